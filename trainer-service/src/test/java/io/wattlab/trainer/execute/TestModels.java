package io.wattlab.trainer.execute;

import io.micronaut.context.env.PropertySource;
import io.micronaut.context.env.PropertySourcePropertyResolver;
import io.micronaut.core.value.PropertyResolver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ONNX models exported by torch with tools/onnx-reference (cached under target/onnx-reference), and configuration for tests. */
final class TestModels {

    private TestModels() {
    }

    /**
     * A randomly initialised model exported by reference.py.
     *
     * @param model "tiny" (a small CNN for 16×16 images) or a torchvision name such as "resnet18"
     */
    static Path export(String model, int size, int classes) throws IOException, InterruptedException {
        Path base = Path.of(System.getProperty("wattlab.reference.dir", "target/onnx-reference"));
        Path dir = base.resolve("executor-" + model + "-" + size + "-" + classes);
        Path file = dir.resolve("model.onnx");
        if (!Files.exists(dir.resolve("index.tsv"))) {
            Files.createDirectories(dir);
            Path script = Path.of(System.getProperty("wattlab.tools.dir", "../tools/onnx-reference"), "reference.py");
            List<String> cmd = new ArrayList<>(List.of(System.getProperty("wattlab.reference.python", "/usr/bin/python3"),
                    script.toString(), "--model", model, "--out", dir.toString(), "--size", Integer.toString(size),
                    "--classes", Integer.toString(classes), "--batch", "8", "--export-only", "1"));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(dir.resolve("reference.log").toFile()).start();
            assertTrue(p.waitFor(10, TimeUnit.MINUTES), "reference.py timed out");
            assertEquals(0, p.exitValue(), () -> "reference.py failed: " + read(dir.resolve("reference.log")));
        }
        return file;
    }

    static PropertyResolver configuration(Map<String, Object> properties) {
        return new PropertySourcePropertyResolver(PropertySource.of("test", properties));
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return e.toString();
        }
    }
}
