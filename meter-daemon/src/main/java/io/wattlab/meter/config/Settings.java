package io.wattlab.meter.config;

import io.micronaut.context.ApplicationContext;
import io.micronaut.context.env.Environment;
import io.micronaut.core.value.PropertyResolver;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Function;

/**
 * Typed reads of configuration keys with errors a user can act on: each names the key, the
 * environment variable that sets it, the value found and what was expected.
 */
public final class Settings {

    private final PropertyResolver resolver;

    public Settings(PropertyResolver resolver) {
        this.resolver = resolver;
    }

    /**
     * Runs {@code action} on the configuration a command line would start with (files, environment
     * variables, system properties) without creating any bean, so that a bad value can be reported
     * in one line before Micronaut starts.
     */
    public static <T> T withEnvironment(Class<?> mainClass, String[] args, Function<Settings, T> action) {
        ApplicationContext context = ApplicationContext.builder(mainClass).args(args).build();
        Environment environment = context.getEnvironment().start();
        try {
            return action.apply(new Settings(environment));
        } finally {
            environment.stop();
        }
    }

    /** The environment variable Micronaut maps to a key: {@code wattlab.influx.url} ← {@code WATTLAB_INFLUX_URL}. */
    public static String envName(String key) {
        return key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
    }

    public Optional<String> string(String key) {
        return resolver.getProperty(key, String.class).map(String::trim).filter(s -> !s.isEmpty());
    }

    public String string(String key, String fallback) {
        return string(key).orElse(fallback);
    }

    public boolean bool(String key, boolean fallback) {
        Optional<String> raw = string(key);
        if (raw.isEmpty()) {
            return fallback;
        }
        return switch (raw.get().toLowerCase(Locale.ROOT)) {
            case "true", "yes", "on", "1" -> true;
            case "false", "no", "off", "0" -> false;
            default -> throw invalid(key, raw.get(), "true or false");
        };
    }

    public long positiveLong(String key, long fallback) {
        Optional<String> raw = string(key);
        if (raw.isEmpty()) {
            return fallback;
        }
        try {
            long value = Long.parseLong(raw.get());
            if (value <= 0) {
                throw invalid(key, raw.get(), "a whole number greater than 0");
            }
            return value;
        } catch (NumberFormatException e) {
            throw invalid(key, raw.get(), "a whole number greater than 0");
        }
    }

    public Duration millis(String key, Duration fallback) {
        return Duration.ofMillis(positiveLong(key, fallback.toMillis()));
    }

    public double nonNegativeDouble(String key, double fallback) {
        Optional<String> raw = string(key);
        if (raw.isEmpty()) {
            return fallback;
        }
        try {
            double value = Double.parseDouble(raw.get());
            if (!(value >= 0) || Double.isInfinite(value)) {
                throw invalid(key, raw.get(), "a number 0 or greater");
            }
            return value;
        } catch (NumberFormatException e) {
            throw invalid(key, raw.get(), "a number 0 or greater");
        }
    }

    public Optional<Path> path(String key) {
        Optional<String> raw = string(key);
        try {
            return raw.map(Path::of);
        } catch (InvalidPathException e) {
            throw invalid(key, raw.get(), "a file system path (" + e.getReason() + ")");
        }
    }

    public <E extends Enum<E>> E choice(String key, Class<E> type, E fallback) {
        Optional<String> raw = string(key);
        if (raw.isEmpty()) {
            return fallback;
        }
        try {
            return Enum.valueOf(type, raw.get().toUpperCase(Locale.ROOT).replace('-', '_'));
        } catch (IllegalArgumentException e) {
            StringBuilder allowed = new StringBuilder();
            for (E constant : type.getEnumConstants()) {
                allowed.append(allowed.length() == 0 ? "" : ", ").append(constant.name().toLowerCase(Locale.ROOT));
            }
            throw invalid(key, raw.get(), "one of " + allowed);
        }
    }

    public static ConfigException invalid(String key, String value, String expected) {
        return new ConfigException("invalid configuration: " + key + " (" + envName(key) + ") = '" + value
                + "': expected " + expected);
    }
}
