package io.wattlab.meter.deploy;

import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * There is no Docker engine to run compose.yaml here, so it is linted: it parses, what it refers to
 * exists, and every setting it passes to the meter is one the README documents.
 */
class ComposeFileTest {

    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    @SuppressWarnings("unchecked")
    private static Map<String, Object> load(String file) throws Exception {
        return new Yaml().load(Files.readString(ROOT.resolve(file)));
    }

    @SuppressWarnings("unchecked")
    private static <T> T at(Map<String, Object> yaml, String... path) {
        Object node = yaml;
        for (String key : path) {
            assertTrue(node instanceof Map, "no mapping at " + String.join(".", path));
            node = ((Map<String, Object>) node).get(key);
        }
        return (T) node;
    }

    @Test
    void theMeterServiceIsBuiltFromThisRepositoryAndConfiguredWithDocumentedSettings() throws Exception {
        Map<String, Object> compose = load("compose.yaml");
        String dockerfile = at(compose, "services", "meter-daemon", "build", "dockerfile");
        assertTrue(Files.isRegularFile(ROOT.resolve(dockerfile)), dockerfile);
        String readme = Files.readString(ROOT.resolve("README.md"));
        Map<String, Object> env = at(compose, "services", "meter-daemon", "environment");
        for (String name : env.keySet()) {
            assertTrue(readme.contains("`" + name + "`"),
                    name + " is set in compose.yaml but not documented in README.md");
        }
        assertEquals("http://influxdb:8086", env.get("WATTLAB_INFLUX_URL"));
        assertTrue(((Map<String, Object>) at(compose, "services")).containsKey("influxdb"));
    }

    @Test
    void everyNamedVolumeIsDeclared() throws Exception {
        Map<String, Object> compose = load("compose.yaml");
        Map<String, Object> declared = at(compose, "volumes");
        Map<String, Map<String, Object>> services = at(compose, "services");
        for (Map.Entry<String, Map<String, Object>> service : services.entrySet()) {
            List<String> volumes = (List<String>) service.getValue().getOrDefault("volumes", List.of());
            for (String volume : volumes) {
                String source = withDefaults(volume).split(":")[0];
                if (!source.startsWith("/") && !source.startsWith(".")) {
                    assertTrue(declared.containsKey(source), service.getKey() + " mounts undeclared volume " + source);
                }
            }
        }
    }

    /** Compose's {@code ${VAR:-default}} read as its default, as on a host where VAR is unset. */
    static String withDefaults(String value) {
        return value.replaceAll("\\$\\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)}", "$1");
    }

    @Test
    void aVariableWithADefaultIsReadAsItsDefault() {
        assertEquals("./data:/data:ro", withDefaults("${WATTLAB_DATA_DIR:-./data}:/data:ro"));
        assertEquals("spool:/x", withDefaults("spool:/x"));
    }

    @Test
    void theGpuOverrideReservesNvidiaDevicesForTheMeter() throws Exception {
        Map<String, Object> gpu = load("compose.gpu.yaml");
        List<Map<String, Object>> devices = at(gpu, "services", "meter-daemon", "deploy", "resources", "reservations", "devices");
        assertEquals("nvidia", devices.get(0).get("driver"));
        assertTrue(((List<String>) devices.get(0).get("capabilities")).contains("utility"),
                "NVML needs the utility capability");
    }

    @Test
    void theDockerfileStartsTheSameMainClassAsTheLauncher() throws Exception {
        String dockerfile = Files.readString(ROOT.resolve("meter-daemon/Dockerfile"));
        String launcher = Files.readString(ROOT.resolve("bin/meter-daemon"));
        Matcher main = Pattern.compile("io\\.wattlab\\.meter\\.cli\\.Main").matcher(launcher);
        assertTrue(main.find());
        assertTrue(dockerfile.contains(main.group()));
    }
}
