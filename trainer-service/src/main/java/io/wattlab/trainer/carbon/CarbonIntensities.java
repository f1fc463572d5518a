package io.wattlab.trainer.carbon;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Country-average grid carbon intensities (g CO2e per kWh) from a table shipped with the service,
 * so that a run's energy can be turned into CO2e by region without a network call.
 *
 * <p>The table is {@code carbon/grid-intensity.csv}: {@code #} lines name the source, then a header
 * {@code code,country,g_co2e_per_kwh,year} and one row per country (ISO 3166-1 alpha-2 code).
 */
public final class CarbonIntensities {

  /** The shipped table, as a class-path resource. */
  public static final String RESOURCE = "/carbon/grid-intensity.csv";

  private static final String HEADER = "code,country,g_co2e_per_kwh,year";

  /**
   * One country's figure.
   *
   * @param code ISO 3166-1 alpha-2, upper case
   * @param country the country's name as the source spells it
   * @param gramsCo2ePerKwh carbon intensity of the electricity generated there
   * @param year the year the figure is for
   * @param source where the figure comes from, from the table's header
   */
  public record Entry(String code, String country, double gramsCo2ePerKwh, int year, String source) {

    /** Grams of CO2e for an energy in kWh at this intensity. */
    public double gramsCo2e(double energyKwh) {
      return energyKwh * gramsCo2ePerKwh;
    }
  }

  private final Map<String, Entry> byCode;
  private final String source;

  private CarbonIntensities(Map<String, Entry> byCode, String source) {
    this.byCode = byCode;
    this.source = source;
  }

  /** The table shipped in the jar. */
  public static CarbonIntensities shipped() {
    InputStream in = CarbonIntensities.class.getResourceAsStream(RESOURCE);
    if (in == null) {
      throw new IllegalStateException("the carbon intensity table " + RESOURCE + " is missing from the class path");
    }
    try (Reader reader = new InputStreamReader(in, StandardCharsets.UTF_8)) {
      return parse(reader, RESOURCE);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + RESOURCE, e);
    }
  }

  /**
   * Parses a table in the shipped format.
   *
   * @param name for messages, e.g. the file name
   * @throws IllegalArgumentException naming the line that is not in the format
   */
  public static CarbonIntensities parse(Reader reader, String name) throws IOException {
    BufferedReader lines = new BufferedReader(reader);
    StringBuilder source = new StringBuilder();
    Map<String, Entry> byCode = new LinkedHashMap<>();
    boolean header = false;
    int number = 0;
    List<String[]> rows = new ArrayList<>();
    List<Integer> rowNumbers = new ArrayList<>();
    for (String line = lines.readLine(); line != null; line = lines.readLine()) {
      number++;
      if (line.isBlank()) {
        continue;
      }
      if (line.startsWith("#")) {
        source.append(source.length() == 0 ? "" : " ").append(line.substring(1).strip());
        continue;
      }
      if (!header) {
        if (!line.strip().equals(HEADER)) {
          throw new IllegalArgumentException(name + " line " + number + ": expected the header '" + HEADER
              + "', got '" + line + "'");
        }
        header = true;
        continue;
      }
      rows.add(splitCsv(line, name, number));
      rowNumbers.add(number);
    }
    if (!header) {
      throw new IllegalArgumentException(name + " has no header line '" + HEADER + "'");
    }
    if (source.length() == 0) {
      throw new IllegalArgumentException(name + " does not name its source in '#' lines before the header");
    }
    String sourceText = source.toString();
    for (int i = 0; i < rows.size(); i++) {
      String[] f = rows.get(i);
      String where = name + " line " + rowNumbers.get(i);
      if (f.length != 4) {
        throw new IllegalArgumentException(where + ": expected 4 fields (" + HEADER + "), got " + f.length);
      }
      String code = f[0].strip().toUpperCase(Locale.ROOT);
      if (!code.matches("[A-Z]{2}")) {
        throw new IllegalArgumentException(where + ": '" + f[0] + "' is not an ISO 3166-1 alpha-2 code");
      }
      double grams;
      int year;
      try {
        grams = Double.parseDouble(f[2].strip());
        year = Integer.parseInt(f[3].strip());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(where + ": intensity '" + f[2] + "' or year '" + f[3] + "' is not a number");
      }
      if (!(grams >= 0) || grams > 2000) {
        throw new IllegalArgumentException(where + ": intensity " + grams + " g/kWh is outside 0..2000");
      }
      if (byCode.put(code, new Entry(code, f[1].strip(), grams, year, sourceText)) != null) {
        throw new IllegalArgumentException(where + ": country " + code + " appears twice");
      }
    }
    return new CarbonIntensities(Collections.unmodifiableMap(byCode), sourceText);
  }

  /** Fields of one CSV line; a field in double quotes may hold commas. */
  private static String[] splitCsv(String line, String name, int number) {
    List<String> fields = new ArrayList<>();
    StringBuilder field = new StringBuilder();
    boolean quoted = false;
    for (int i = 0; i < line.length(); i++) {
      char c = line.charAt(i);
      if (c == '"') {
        if (quoted && i + 1 < line.length() && line.charAt(i + 1) == '"') {
          field.append('"');
          i++;
        } else {
          quoted = !quoted;
        }
      } else if (c == ',' && !quoted) {
        fields.add(field.toString());
        field.setLength(0);
      } else {
        field.append(c);
      }
    }
    if (quoted) {
      throw new IllegalArgumentException(name + " line " + number + ": unclosed quote");
    }
    fields.add(field.toString());
    return fields.toArray(String[]::new);
  }

  /**
   * The entry for a region given as an ISO 3166-1 alpha-2 code ({@code de}, {@code FR}) or a country
   * name as the table spells it ({@code Germany}), case-insensitive; empty when the table lacks it.
   */
  public Optional<Entry> lookup(String region) {
    if (region == null || region.isBlank()) {
      return Optional.empty();
    }
    String key = region.strip();
    Entry byCodeEntry = byCode.get(key.toUpperCase(Locale.ROOT));
    if (byCodeEntry != null) {
      return Optional.of(byCodeEntry);
    }
    return byCode.values().stream().filter(e -> e.country().equalsIgnoreCase(key)).findFirst();
  }

  /**
   * As {@link #lookup}, for a region that must be in the table.
   *
   * @throws IllegalArgumentException saying how to see the table and how to give an intensity directly
   */
  public Entry require(String region) {
    return lookup(region).orElseThrow(() -> new IllegalArgumentException("no grid carbon intensity for region '"
        + region + "' in the shipped table (" + byCode.size() + " countries by ISO 3166-1 alpha-2 code or name, "
        + "e.g. DE, FR, US; the table is trainer-service/src/main/resources" + RESOURCE
        + ", explained in docs/carbon.md); give the intensity in g CO2e/kWh directly instead"));
  }

  /** Every entry, in table order. */
  public List<Entry> entries() {
    return List.copyOf(byCode.values());
  }

  /** The source text from the table's header. */
  public String source() {
    return source;
  }
}
