// The checksum and framing shared by NMEA 0183 and the fieldlog line protocol:
// `$<body>*<CS>` where CS is two upper-case hex digits, the XOR of every body byte.

/** XOR of every char code of `body` (the bytes between `$` and `*`), as two hex digits. */
export function xorChecksum(body: string): string {
  let x = 0;
  for (let i = 0; i < body.length; i++) x ^= body.charCodeAt(i) & 0xff;
  return x.toString(16).toUpperCase().padStart(2, '0');
}

/** A complete line: `$body*CS\r\n`. */
export function wrapFrame(body: string): string {
  return `$${body}*${xorChecksum(body)}\r\n`;
}
