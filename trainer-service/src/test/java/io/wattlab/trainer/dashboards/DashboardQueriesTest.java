package io.wattlab.trainer.dashboards;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wattlab.testing.InfluxServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every InfluxQL query of every shipped Grafana dashboard (panel targets, annotations, template
 * variables), with Grafana's macros and variables replaced as Grafana would, runs against a real
 * influxd holding meter points (docs/influx-schema.md) and run events (docs/run-events.md) of two
 * runs, and returns rows.
 */
public class DashboardQueriesTest {

  private static final Path DASHBOARDS = Path.of("..", "grafana", "dashboards");
  private static final Path PROVISIONING = Path.of("..", "grafana", "provisioning");
  private static final String DB = "wattlab";
  private static final Instant START = Instant.parse("2025-01-01T00:00:00Z");
  private static final int SECONDS = 600;

  private static InfluxServer influx;

  /** The two synthetic runs: id, model, start second, top-1 at the end. */
  private record Run(String id, String model, int startSecond, double top1) {}

  private static final List<Run> RUNS = List.of(
      new Run("run-a", "resnet-cifar", 60, 0.91),
      new Run("run-b", "mobilenet-cifar", 300, 0.84));
  /** Phases of each run, in order, with their length in seconds; train twice (one per epoch). */
  private static final String[] PHASES = {"load", "compress", "train", "train", "evaluate"};
  private static final int[] PHASE_SECONDS = {10, 1, 60, 60, 9};
  private static final double CPU_WATTS = 40;
  private static final double DRAM_WATTS = 5;
  private static final double GPU_WATTS = 150;

  @BeforeAll
  static void writeMeterPointsAndRunEvents() {
    influx = InfluxServer.launch();
    influx.query(null, "CREATE DATABASE " + DB);
    List<String> lines = new ArrayList<>();
    double[] joules = new double[4];
    for (int s = 0; s < SECONDS; s++) {
      long t = nanos(s);
      // Load rises while a run trains, so the power panels have shape.
      int second = s;
      double load = RUNS.stream().anyMatch(r -> second >= r.startSecond() && second < r.startSecond() + 140) ? 1 : 0;
      double[] watts = {CPU_WATTS + 20 * load, 0.6 * (CPU_WATTS + 20 * load), DRAM_WATTS, GPU_WATTS * (0.3 + load)};
      String[] channels = {
          "host=node-a,domain=cpu,device=package-0,sensor=rapl,source=measured,in_total=true",
          "host=node-a,domain=core,device=package-0,sensor=rapl,source=measured,in_total=false",
          "host=node-a,domain=dram,device=package-0,sensor=rapl,source=measured,in_total=true",
          "host=node-a,domain=gpu,device=0,sensor=nvml,source=measured,in_total=true"};
      for (int c = 0; c < channels.length; c++) {
        if (s > 0) {
          joules[c] += watts[c];
        }
        lines.add("power," + channels[c] + " watts=" + watts[c] + " " + t);
        lines.add("energy," + channels[c] + " joules=" + joules[c] + " " + t);
      }
      lines.add("gauges," + channels[3] + " utilization_gpu_percent=" + (100.0 * load) + ",memory_used_bytes=1.5E9,"
          + "power_limit_watts=300.0 " + t);
    }
    for (Run run : RUNS) {
      lines.addAll(runEvents(run));
    }
    for (int i = 0; i < lines.size(); i += 5000) {
      influx.write(DB, lines.subList(i, Math.min(lines.size(), i + 5000)).toArray(String[]::new));
    }
  }

  /** The points trainer-service writes for one run, as docs/run-events.md says. */
  private static List<String> runEvents(Run run) {
    String tags = "run_id=" + run.id() + ",model=" + run.model() + ",technique=none,device=cpu,experiment=demo";
    List<String> lines = new ArrayList<>();
    long start = nanos(run.startSecond());
    lines.add("run," + tags + " state=\"RUNNING\",epochs=2i,batch_size=32i,learning_rate=0.05 " + start);
    int at = run.startSecond();
    double total = 0;
    int epoch = 0;
    for (int p = 0; p < PHASES.length; p++) {
      String phaseTags = tags + ",phase=" + PHASES[p];
      boolean train = PHASES[p].equals("train");
      epoch += train ? 1 : 0;
      double energy = PHASE_SECONDS[p] * (CPU_WATTS + 20 + DRAM_WATTS + GPU_WATTS * 1.3);
      total += energy;
      // A phase starts 1 ms after the previous one ends: the train phase's epochs share one series,
      // and an end and a start at the same instant would be one point.
      lines.add("run_phase," + phaseTags + " event=\"start\" " + (nanos(at) + 1_000_000));
      at += PHASE_SECONDS[p];
      lines.add("run_phase," + phaseTags + " event=\"end\",epoch=" + (train ? epoch : 0) + "i,duration_seconds="
          + (double) PHASE_SECONDS[p] + ",energy_joules=" + energy + ",net_energy_joules=" + (energy * 0.8) + " "
          + nanos(at));
      if (train) {
        lines.add("run_epoch," + tags + " epoch=" + epoch + "i,train_loss=" + (1.5 / epoch) + ",eval_loss="
            + (1.6 / epoch) + ",top1=" + (run.top1() - 0.1 * (2 - epoch)) + ",top5=0.99,macro_f1=" + (run.top1() - 0.02)
            + ",learning_rate=0.05,seconds=60.0,energy_joules=" + energy + ",samples=512i " + nanos(at));
      }
    }
    double kwh = total / 3.6e6;
    lines.add("run," + tags + " state=\"SUCCEEDED\",epochs=2i,batch_size=32i,learning_rate=0.05,duration_seconds="
        + (double) (at - run.startSecond()) + ",energy_joules=" + total + ",energy_kwh=" + kwh + ",net_energy_joules="
        + (total * 0.8) + ",net_energy_kwh=" + (kwh * 0.8) + ",top1=" + run.top1() + ",top5=0.99,macro_f1="
        + (run.top1() - 0.02) + ",efficiency_top1_per_kwh=" + (run.top1() / kwh) + ",co2e_grams=" + (kwh * 342.06)
        + ",parameters=272474.0,macs=4.0813184E7 " + (nanos(at) + 1_000_000));
    return lines;
  }

  private static long nanos(int second) {
    return (START.getEpochSecond() + second) * 1_000_000_000L;
  }

  @AfterAll
  static void stop() {
    if (influx != null) {
      influx.close();
    }
  }

  // ---- the dashboards ----

  /** One query found in a dashboard, with where it was found. */
  public record Found(String dashboard, String where, String query, String format) {}

  public static List<Path> dashboardFiles() throws IOException {
    try (Stream<Path> files = Files.list(DASHBOARDS)) {
      return files.filter(p -> p.toString().endsWith(".json")).sorted().toList();
    }
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> read(Path file) throws IOException {
    return (Map<String, Object>) Json.parse(Files.readString(file));
  }

  @SuppressWarnings("unchecked")
  private static List<Map<String, Object>> list(Map<String, Object> map, String... path) {
    Object at = map;
    for (String key : path) {
      at = at == null ? null : ((Map<String, Object>) at).get(key);
    }
    return at == null ? List.of() : (List<Map<String, Object>>) at;
  }

  public static List<Found> queries(Path file) throws IOException {
    Map<String, Object> d = read(file);
    String name = file.getFileName().toString();
    List<Found> found = new ArrayList<>();
    List<Map<String, Object>> panels = new ArrayList<>(list(d, "panels"));
    for (int i = 0; i < panels.size(); i++) {
      panels.addAll(list(panels.get(i), "panels")); // panels inside collapsed rows
    }
    for (Map<String, Object> panel : panels) {
      for (Map<String, Object> target : list(panel, "targets")) {
        found.add(new Found(name, "panel '" + panel.get("title") + "' " + target.get("refId"),
            (String) target.get("query"), (String) target.getOrDefault("resultFormat", "time_series")));
      }
    }
    for (Map<String, Object> annotation : list(d, "annotations", "list")) {
      if (annotation.get("datasource") instanceof Map<?, ?> ds && "influxdb".equals(ds.get("type"))) {
        Object query = annotation.containsKey("query") ? annotation.get("query")
            : ((Map<?, ?>) annotation.get("target")).get("query");
        found.add(new Found(name, "annotation '" + annotation.get("name") + "'", (String) query, "table"));
      }
    }
    for (Map<String, Object> variable : list(d, "templating", "list")) {
      if ("query".equals(variable.get("type"))) {
        found.add(new Found(name, "variable $" + variable.get("name"), (String) variable.get("query"), "table"));
      }
    }
    return found;
  }

  /** Grafana's macros and this test's variable choices (all values, regex-escaped, as "All" gives). */
  private static String interpolate(String query) {
    long from = START.toEpochMilli();
    return interpolate(query, from, from + SECONDS * 1000L, "10s",
        Map.of("$host", "(node\\-a)", "$run_id", "(run\\-a|run\\-b)", "$model", "(resnet\\-cifar|mobilenet\\-cifar)"));
  }

  /** A dashboard query as Grafana sends it, for a time range, an interval and variable values (regexes). */
  public static String interpolate(String query, long fromMillis, long toMillis, String interval, Map<String, String> variables) {
    Map<String, String> values = new LinkedHashMap<>();
    values.put("$timeFilter", "time >= " + fromMillis + "ms and time <= " + toMillis + "ms");
    values.put("$__interval", interval);
    values.put("$interval", interval);
    values.putAll(variables);
    String q = query;
    for (Map.Entry<String, String> e : values.entrySet()) {
      q = q.replace(e.getKey(), e.getValue());
    }
    return q;
  }

  @Test
  void everyDashboardQueryReturnsRows() throws IOException {
    List<Path> files = dashboardFiles();
    assertTrue(files.size() >= 2, "dashboards in " + DASHBOARDS.toAbsolutePath() + ": " + files);
    int checked = 0;
    List<String> empty = new ArrayList<>();
    for (Path file : files) {
      for (Found f : queries(file)) {
        assertTrue(f.query() != null && !f.query().isBlank(), f.dashboard() + " " + f.where() + " has no query");
        String q = interpolate(f.query());
        // A '$' left before a name is a variable; '$/' is a regex's end anchor.
        assertFalse(java.util.regex.Pattern.compile("\\$[A-Za-z_{]").matcher(q).find(), f.dashboard() + " " + f.where() + " uses a variable this test does not know: " + q);
        List<InfluxServer.Row> rows = influx.rows(DB, q);
        if (rows.isEmpty()) {
          empty.add(f.dashboard() + " " + f.where() + ": " + q);
        }
        checked++;
      }
    }
    assertTrue(empty.isEmpty(), "queries without rows:\n" + String.join("\n", empty));
    assertTrue(checked >= 15, "queries checked: " + checked);
  }

  @Test
  void accuracyAgainstEnergyHasOnePointPerSucceededRun() throws IOException {
    List<InfluxServer.Row> rows = influx.rows(DB, interpolate(panelQuery("wattlab-runs.json", "Accuracy against energy")));
    Map<String, double[]> byRun = new TreeMap<>();
    for (InfluxServer.Row row : rows) {
      byRun.put((String) row.values().get("run_id"), new double[] {row.number("energy_kwh"), row.number("top1")});
    }
    assertEquals(List.of("run-a", "run-b"), List.copyOf(byRun.keySet()));
    assertEquals(0.91, byRun.get("run-a")[1], 1e-12);
    assertEquals(0.84, byRun.get("run-b")[1], 1e-12);
    double phaseJoules = 0;
    for (int s : PHASE_SECONDS) {
      phaseJoules += s * (CPU_WATTS + 20 + DRAM_WATTS + GPU_WATTS * 1.3);
    }
    assertEquals(phaseJoules / 3.6e6, byRun.get("run-a")[0], 1e-12);
  }

  @Test
  void energyPerRunAndPhaseSumsTheTrainEpochs() throws IOException {
    List<InfluxServer.Row> rows = influx.rows(DB, interpolate(panelQuery("wattlab-runs.json", "Energy per run and phase")));
    Map<String, Double> joules = new TreeMap<>();
    for (InfluxServer.Row row : rows) {
      joules.put(row.tags().get("run_id") + "/" + row.tags().get("phase"), row.number("energy_joules"));
    }
    assertEquals(8, joules.size(), "2 runs × 4 phases: " + joules);
    double perSecond = CPU_WATTS + 20 + DRAM_WATTS + GPU_WATTS * 1.3;
    assertEquals(120 * perSecond, joules.get("run-b/train"), 1e-9);
    assertEquals(10 * perSecond, joules.get("run-a/load"), 1e-9);
  }

  @Test
  void phaseAnnotationsMarkEveryStartAndEnd() throws IOException {
    Map<String, Object> d = read(DASHBOARDS.resolve("wattlab-power.json"));
    String query = list(d, "annotations", "list").stream().filter(a -> "Run phases".equals(a.get("name")))
        .map(a -> (String) a.get("query")).findFirst().orElseThrow();
    List<InfluxServer.Row> rows = influx.rows(DB, interpolate(query));
    assertEquals(2 * 2 * PHASES.length, rows.size(), "a start and an end per phase (train per epoch), 2 runs");
    assertTrue(rows.stream().allMatch(r -> r.values().get("phase") != null && r.values().get("run_id") != null),
        "the tags the annotation shows come back as columns");
  }

  @Test
  void machinePowerCountsOnlyChannelsInTheTotal() throws IOException {
    List<InfluxServer.Row> rows = influx.rows(DB,
        interpolate(panelQuery("wattlab-power.json", "Machine power (channels counted in the total)")));
    // Before the first run: cpu 40 + dram 5 + gpu 45 W; the core channel (inside cpu) is not added.
    InfluxServer.Row first = rows.get(0);
    assertEquals(40 + 5 + 45, first.number("sum"), 1e-9, first.toString());
  }

  @Test
  void panelsAndAnnotationsUseTheDatasourceVariableAndItIsProvisioned() throws IOException {
    for (Path file : dashboardFiles()) {
      Map<String, Object> d = read(file);
      assertTrue(list(d, "templating", "list").stream().anyMatch(v -> "datasource".equals(v.get("type"))
          && "influxdb".equals(v.get("query"))), file + " declares a datasource variable of type influxdb");
      for (Map<String, Object> panel : list(d, "panels")) {
        assertEquals("${datasource}", ((Map<?, ?>) panel.get("datasource")).get("uid"), file + " " + panel.get("title"));
        for (Map<String, Object> target : list(panel, "targets")) {
          assertEquals("${datasource}", ((Map<?, ?>) target.get("datasource")).get("uid"), file + " " + panel.get("title"));
        }
      }
    }
    String datasources = Files.readString(PROVISIONING.resolve("datasources").resolve("wattlab.yaml"));
    assertTrue(datasources.contains("type: influxdb") && datasources.contains("dbName: ${WATTLAB_INFLUX_DATABASE}"));
    String providers = Files.readString(PROVISIONING.resolve("dashboards").resolve("wattlab.yaml"));
    assertTrue(providers.contains("path: /var/lib/grafana/dashboards/wattlab"));
  }

  private static String panelQuery(String file, String title) throws IOException {
    for (Map<String, Object> panel : list(read(DASHBOARDS.resolve(file)), "panels")) {
      if (title.equals(panel.get("title"))) {
        return (String) list(panel, "targets").get(0).get("query");
      }
    }
    throw new AssertionError("no panel '" + title + "' in " + file);
  }
}
