// fieldlog's version, recorded in every DeviceStarted and printed by --version.
export const VERSION = '0.1.0';
