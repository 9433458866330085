package configs

// Logging is the [logging] section.
type Logging struct {
	// Version is the logging schema version; it must be 1.
	Version int `toml:"version"`
	// Level is the root level: TRACE, DEBUG, INFO, WARNING, ERROR,
	// CRITICAL or NOTSET (stored upper-case).
	Level string `toml:"level"`
	// Drivers are the enabled outputs: "console" and "file" (upstream's
	// "logstash" and "graylog" are accepted with a warning and ignored).
	Drivers []string `toml:"drivers"`
	// Console is [logging.console].
	Console LoggingConsole `toml:"console"`
	// File is [logging.file].
	File LoggingFile `toml:"file"`
	// PkgNS maps logger namespaces to levels ("" is the root).
	PkgNS map[string]string `toml:"pkg-ns"`
}

// LoggingConsole is [logging.console].
type LoggingConsole struct {
	// Colored forces colors on or off; nil means colored when the output
	// is a terminal.
	Colored *bool `toml:"colored"`
	// Format is "simple", "verbose" or "json" (stored lower-case).
	Format string `toml:"format"`
}

// LoggingFile is [logging.file].
type LoggingFile struct {
	// Path is the directory of the log files.
	Path string `toml:"path" cfg:"path"`
	// Filename is the name of the current log file.
	Filename string `toml:"filename"`
	// BackupCount is how many rotated files are kept.
	BackupCount int `toml:"backup-count"`
	// RotationSize is the size at which the file is rotated.
	RotationSize BinarySize `toml:"rotation-size"`
	// Format is "simple", "verbose" or "json" (stored lower-case).
	Format string `toml:"format"`
}
