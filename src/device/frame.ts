// The checksum and framing shared by NMEA 0183 and the fieldlog line protocol:
// `$<body>*<CS>` where CS is two upper-case hex digits, the XOR of every body byte.

/** XOR of every byte of `body` (the bytes between `$` and `*`, UTF-8), as two hex digits. */
export function xorChecksum(body: string | Uint8Array): string {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  let x = 0;
  for (let i = 0; i < bytes.length; i++) x ^= bytes[i]!;
  return x.toString(16).toUpperCase().padStart(2, '0');
}

/** A complete line: `$body*CS\r\n`. */
export function wrapFrame(body: string): string {
  return `$${body}*${xorChecksum(body)}\r\n`;
}
