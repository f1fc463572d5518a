package io.wattlab.trainer.compress;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * The string parameters of {@code spec.compression.parameters}, read with types, ranges and
 * defaults. Every value read is recorded with its default filled in, so that {@link #asMap()}
 * is what the pass really used; {@link #rejectUnread()} then names a key nobody asked for
 * (a typo such as {@code sparisty} must not silently fall back to a default).
 */
public final class PassParameters {

  private final Map<String, String> given;
  private final Map<String, String> used = new TreeMap<>();

  public PassParameters(Map<String, String> given) {
    this.given = new TreeMap<>();
    given.forEach((k, v) -> this.given.put(k.strip(), v.strip()));
  }

  /** A number in [min, max]. */
  public double number(String key, double fallback, double min, double max) {
    String raw = given.get(key);
    double v;
    if (raw == null) {
      v = fallback;
    } else {
      try {
        v = Double.parseDouble(raw);
      } catch (NumberFormatException e) {
        throw invalid(key, "'" + raw + "' is not a number");
      }
      if (!(v >= min && v <= max)) {
        throw invalid(key, raw + " is outside [" + plain(min) + ", " + plain(max) + "]");
      }
    }
    used.put(key, plain(v));
    return v;
  }

  /** A whole number in [min, max]. */
  public int integer(String key, int fallback, int min, int max) {
    String raw = given.get(key);
    int v;
    if (raw == null) {
      v = fallback;
    } else {
      try {
        v = Integer.parseInt(raw);
      } catch (NumberFormatException e) {
        throw invalid(key, "'" + raw + "' is not a whole number");
      }
      if (v < min || v > max) {
        throw invalid(key, raw + " is outside [" + min + ", " + max + "]");
      }
    }
    used.put(key, Integer.toString(v));
    return v;
  }

  /** One of a fixed set of words (case-insensitive); the first is the default. */
  public String choice(String key, String... options) {
    String raw = given.get(key);
    String v = raw == null ? options[0] : raw.toLowerCase(Locale.ROOT);
    if (!Arrays.asList(options).contains(v)) {
      throw invalid(key, "'" + raw + "' is not one of " + String.join(", ", options));
    }
    used.put(key, v);
    return v;
  }

  public boolean flag(String key, boolean fallback) {
    String v = choice(key, fallback ? "true" : "false", fallback ? "false" : "true");
    return v.equals("true");
  }

  /** Free text (a path, a pattern); empty when absent and the fallback is empty. */
  public String text(String key, String fallback) {
    String v = given.getOrDefault(key, fallback);
    if (!v.isEmpty()) {
      used.put(key, v);
    }
    return v;
  }

  /** Whether the spec set this key (before defaults). */
  public boolean isSet(String key) {
    return given.containsKey(key);
  }

  /** The parameters of a nested technique: keys starting with {@code prefix}, without it. */
  public PassParameters nested(String prefix) {
    Map<String, String> inner = new TreeMap<>();
    given.forEach((k, v) -> {
      if (k.startsWith(prefix)) {
        inner.put(k.substring(prefix.length()), v);
      }
    });
    return new PassParameters(inner);
  }

  /** Records the values a nested technique used under its prefix. */
  public void adopt(String prefix, PassParameters inner) {
    inner.asMap().forEach((k, v) -> used.put(prefix + k, v));
  }

  /** @throws InvalidCompressionException naming the first key that was given but never read */
  public void rejectUnread() {
    for (String k : given.keySet()) {
      if (!used.containsKey(k)) {
        throw invalid(k, "unknown parameter" + (used.isEmpty() ? "" : " (this technique reads "
            + String.join(", ", used.keySet()) + ")"));
      }
    }
  }

  /** The values used, defaults included, sorted by key. */
  public Map<String, String> asMap() {
    return Collections.unmodifiableMap(used);
  }

  /** {@code key=value,key=value} in key order: one InfluxDB tag value per configuration. */
  public String canonical() {
    return used.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(","));
  }

  public static InvalidCompressionException invalid(String key, String problem) {
    return new InvalidCompressionException("parameters." + key, problem);
  }

  private static String plain(double v) {
    return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
  }

  /** Keys in order, for messages. */
  List<String> givenKeys() {
    return List.copyOf(given.keySet());
  }
}
