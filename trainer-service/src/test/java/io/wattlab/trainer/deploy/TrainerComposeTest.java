package io.wattlab.trainer.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * compose.yaml cannot be run here (no Docker engine), so the trainer's service in it is linted:
 * its image is built from this repository and starts the launcher's main class, it is metered by
 * the meter-daemon service over gRPC at the port that service serves, and every setting it passes is
 * one the README documents.
 */
class TrainerComposeTest {

  private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

  @SuppressWarnings("unchecked")
  private static <T> T at(Object yaml, String... path) {
    Object node = yaml;
    for (String key : path) {
      assertTrue(node instanceof Map, "no mapping at " + String.join(".", path));
      node = ((Map<String, Object>) node).get(key);
    }
    return (T) node;
  }

  @Test
  void theTrainerIsBuiltHereMeteredByTheSidecarAndConfiguredWithDocumentedSettings() throws Exception {
    Map<String, Object> compose = new Yaml().load(Files.readString(ROOT.resolve("compose.yaml")));
    String dockerfile = at(compose, "services", "trainer-service", "build", "dockerfile");
    String image = Files.readString(ROOT.resolve(dockerfile));
    String launcher = Files.readString(ROOT.resolve("bin/trainer-service"));
    assertTrue(launcher.contains("io.wattlab.trainer.cli.Main") && image.contains("io.wattlab.trainer.cli.Main"),
        "the image starts the launcher's main class");

    Map<String, Object> env = at(compose, "services", "trainer-service", "environment");
    String readme = Files.readString(ROOT.resolve("README.md"));
    for (String name : env.keySet()) {
      assertTrue(readme.contains("`" + name + "`"), name + " is set in compose.yaml but not documented in README.md");
    }
    Map<String, Object> meterEnv = at(compose, "services", "meter-daemon", "environment");
    assertEquals("meter-daemon:" + meterEnv.get("GRPC_SERVER_PORT"), env.get("WATTLAB_METER_ADDRESS"));
    assertEquals(meterEnv.get("WATTLAB_INFLUX_URL"), env.get("WATTLAB_INFLUX_URL"));
    assertEquals(meterEnv.get("WATTLAB_INFLUX_DATABASE"), env.get("WATTLAB_INFLUX_DATABASE"));
    List<String> ports = at(compose, "services", "trainer-service", "ports");
    assertTrue(ports.get(0).endsWith(":" + env.get("GRPC_SERVER_PORT")), ports.toString());
    assertTrue(image.contains("EXPOSE " + env.get("GRPC_SERVER_PORT")));
    Map<String, Object> dependsOn = at(compose, "services", "trainer-service", "depends_on");
    assertTrue(dependsOn.containsKey("meter-daemon") && dependsOn.containsKey("influxdb"), dependsOn.toString());
    List<String> volumes = at(compose, "services", "trainer-service", "volumes");
    Map<String, Object> declared = at(compose, "volumes");
    assertTrue(declared.containsKey(volumes.get(0).split(":")[0]), "the runs volume is declared");
  }

  @Test
  void theGpuOverrideGivesTheTrainerComputeOnNvidiaDevices() throws Exception {
    Map<String, Object> gpu = new Yaml().load(Files.readString(ROOT.resolve("compose.gpu.yaml")));
    List<Map<String, Object>> devices = at(gpu, "services", "trainer-service", "deploy", "resources", "reservations",
        "devices");
    assertEquals("nvidia", devices.get(0).get("driver"));
    assertTrue(((List<?>) devices.get(0).get("capabilities")).contains("compute"));
  }
}
