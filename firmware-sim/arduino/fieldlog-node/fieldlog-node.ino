// fieldlog sensor node, line protocol v1, for an Arduino Uno/Nano (or any board with
// Serial and analogRead). Flash with the Arduino IDE or arduino-cli, wire to the Pi's
// USB or UART (3.3 V levels on the Pi's UART!), and run
//   fieldlog device --id pi-01 --data /var/lib/fieldlog --driver line --port /dev/ttyUSB0 --baud 115200
//
// Sensors: a TMP36 on A0 (temp, C) and a photoresistor divider on A1 (light, %).
// Frames: $FLI at start and on $FLC,ID; $FLR,<counter>,temp:<v>:C,light:<v>:% every period;
// $FLC,RATE,<ms> changes the period and is answered with $FLA,RATE,OK or $FLA,RATE,ERR,<why>.

const char NODE_ID[] = "uno-1";
const char FIRMWARE[] = "fieldlog-node";
const char VERSION[] = "1.0.0";

unsigned long periodMs = 1000;
unsigned long lastSample = 0;
unsigned int counter = 0;
char rx[64];
byte rxLen = 0;
bool rxOverflow = false;

byte checksum(const char *body) {
  byte x = 0;
  while (*body) x ^= (byte)*body++;
  return x;
}

void sendFrame(const char *body) {
  char cs[3];
  snprintf(cs, sizeof cs, "%02X", checksum(body));
  Serial.print('$');
  Serial.print(body);
  Serial.print('*');
  Serial.print(cs);
  Serial.print("\r\n");
}

void sendIdentity() {
  char body[64];
  snprintf(body, sizeof body, "FLI,%s,%s,%s", NODE_ID, FIRMWARE, VERSION);
  sendFrame(body);
}

// dtostrf: AVR printf has no %f
void sample() {
  float volts = analogRead(A0) * (5.0 / 1023.0);
  float tempC = (volts - 0.5) * 100.0;
  float light = analogRead(A1) * (100.0 / 1023.0);
  char t[12], l[12], body[96];
  dtostrf(tempC, 1, 2, t);
  dtostrf(light, 1, 1, l);
  snprintf(body, sizeof body, "FLR,%u,temp:%s:C,light:%s:%%", counter, t, l);
  sendFrame(body);
  counter++;  // wraps at 65536 like the protocol's counter
}

void handleCommand(char *line) {
  // line is "$FLC,...*CS" without the line ending
  char *star = strchr(line, '*');
  if (line[0] != '$' || !star || strlen(star) != 3) return;
  *star = '\0';
  char *body = line + 1;
  if ((byte)strtol(star + 1, NULL, 16) != checksum(body)) return;  // bad checksum: ignore
  if (strcmp(body, "FLC,ID") == 0) {
    sendIdentity();
  } else if (strncmp(body, "FLC,RATE,", 9) == 0) {
    long ms = atol(body + 9);
    if (ms >= 100 && ms <= 3600000L) {
      periodMs = ms;
      sendFrame("FLA,RATE,OK");
    } else {
      sendFrame("FLA,RATE,ERR,out of range 100-3600000");
    }
  }
}

void setup() {
  Serial.begin(115200);
  sendIdentity();
}

void loop() {
  while (Serial.available()) {
    char c = Serial.read();
    if (c == '\n' || c == '\r') {
      if (rxLen > 0 && !rxOverflow) {
        rx[rxLen] = '\0';
        handleCommand(rx);
      }
      rxLen = 0;
      rxOverflow = false;
    } else if (rxLen < sizeof rx - 1) {
      rx[rxLen++] = c;
    } else {
      rxOverflow = true;
    }
  }
  if (millis() - lastSample >= periodMs) {
    lastSample += periodMs;
    sample();
  }
}
