package io.wattlab.meter.config;

/** A configuration value the daemon cannot start with; the message is one line naming the key and the value. */
public class ConfigException extends RuntimeException {

    public ConfigException(String message) {
        super(message);
    }
}
