package io.wattlab.trainer.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.trainer.compress.mantissa.CapacityAnalysis;
import io.wattlab.trainer.data.DatasetException;
import io.wattlab.trainer.execute.FileModelSource;
import io.wattlab.trainer.execute.ModelSource;
import io.wattlab.trainer.execute.ModelSourceException;
import io.wattlab.trainer.execute.SpecInputs;
import io.wattlab.trainer.model.BuiltinModelSource;
import io.wattlab.trainer.run.InvalidSpecException;
import io.wattlab.trainer.run.RunSpecs;
import io.wattlab.trainer.train.ExecutionConfig;
import io.wattlab.trainer.train.ForwardModel;
import io.wattlab.trainer.train.TrainingException;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * {@code trainer-service capacity SPEC.yaml [--json] [--tolerance POINTS] [--per-layer] [--images N]}: the
 * steganographic capacity of the spec's model on its dataset's test split ({@link CapacityAnalysis}),
 * as a table or as JSON. The spec's model, dataset, batch size, device and seed are used; the rest
 * of it (training) is not.
 */
final class CapacityCommand {

    /** Its lines of {@code trainer-service help}, indented as {@link Main}'s. */
    static final String USAGE = ""
            + "  capacity SPEC.yaml [--json] [--tolerance POINTS] [--per-layer] [--images N]\n"
            + "                         overwrite the N low mantissa bits of every weight of the spec's model with\n"
            + "                         seeded random bits (N = 0..23), print its test top-1 for each N and the\n"
            + "                         capacity: the largest N within POINTS (default 1) percentage points of the\n"
            + "                         unmodified model; --per-layer: also each layer's; --images: a fixed sample\n"
            + "                         of N test images instead of all (docs/compression/mantissa.md)\n";

    static final double DEFAULT_TOLERANCE_POINTS = 1;

    private CapacityCommand() {
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        Path specFile = null;
        boolean json = false;
        boolean perLayer = false;
        double tolerance = DEFAULT_TOLERANCE_POINTS;
        int images = 0;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            switch (arg) {
                case "--json" -> json = true;
                case "--per-layer" -> perLayer = true;
                case "--tolerance" -> {
                    if (i + 1 >= args.length) {
                        return usage(err, "--tolerance needs a value in percentage points");
                    }
                    String raw = args[++i];
                    try {
                        tolerance = Double.parseDouble(raw);
                    } catch (NumberFormatException e) {
                        return usage(err, "--tolerance '" + raw + "' is not a number");
                    }
                    if (!(tolerance >= 0 && tolerance <= 100)) {
                        return usage(err, "--tolerance " + raw + " is outside [0, 100] percentage points");
                    }
                }
                case "--images" -> {
                    String raw = i + 1 < args.length ? args[++i] : "";
                    try {
                        images = Integer.parseInt(raw);
                    } catch (NumberFormatException e) {
                        return usage(err, "--images '" + raw + "' is not a whole number");
                    }
                    if (images < 1) {
                        return usage(err, "--images " + raw + " must be at least 1");
                    }
                }
                default -> {
                    if (arg.startsWith("-")) {
                        return usage(err, "unknown option " + arg);
                    }
                    if (specFile != null) {
                        return usage(err, "capacity takes one spec file; '" + arg + "' is a second");
                    }
                    specFile = Path.of(arg);
                }
            }
        }
        if (specFile == null) {
            return usage(err, "capacity needs a spec file");
        }
        RunSpec spec;
        try {
            spec = RunSpecs.validate(SpecFile.read(specFile));
        } catch (SpecFileException e) {
            err.println("trainer-service: " + e.getMessage());
            return Main.EXIT_USAGE;
        } catch (InvalidSpecException e) {
            err.println("trainer-service: " + specFile + ": " + e.getMessage());
            return Main.EXIT_USAGE;
        }
        ModelSource models = ModelSource.of(new FileModelSource(), new BuiltinModelSource());
        CapacityAnalysis.Result result;
        SpecInputs inputs;
        try {
            inputs = SpecInputs.load(spec, models);
            int batch = spec.getBatchSize() > 0 ? spec.getBatchSize() : 32;
            ExecutionConfig execution = new ExecutionConfig(spec.getDevice().isBlank() ? "cpu" : spec.getDevice(), 0);
            result = CapacityAnalysis.run(ForwardModel.prepare(inputs.model(), batch), inputs.dataset().test(),
                    inputs.dataset().numClasses(), new CapacityAnalysis.Settings(tolerance, perLayer, spec.getSeed(), batch,
                            images, execution));
        } catch (DatasetException | ModelSourceException | TrainingException e) {
            err.println("trainer-service: capacity: " + e.getMessage());
            return Main.EXIT_FAILED;
        }
        String model = spec.getModel().hasBuiltin() ? spec.getModel().getBuiltin() : spec.getModel().getOnnxPath();
        out.print(json ? json(model, inputs.dataset().name(), result) : table(model, inputs.dataset().name(), result));
        out.flush();
        return 0;
    }

    private static int usage(PrintStream err, String problem) {
        err.println("trainer-service: " + problem + "\nusage: trainer-service\n" + USAGE.stripTrailing());
        return Main.EXIT_USAGE;
    }

    static String table(String model, String dataset, CapacityAnalysis.Result r) {
        StringBuilder s = new StringBuilder();
        double tolerance = r.settings().tolerancePoints();
        s.append(String.format(Locale.ROOT, "steganographic capacity of %s on %s: %d test images, %,d weights, "
                + "tolerance %s, seed %d, %.1f s%n", model, dataset, r.testImages(), r.weightValues(),
                points(tolerance), r.settings().seed(), r.seconds()));
        s.append(String.format(Locale.ROOT, "%4s  %7s  %8s%n", "bits", "top-1", "change"));
        for (CapacityAnalysis.Point p : r.curve()) {
            s.append(String.format(Locale.ROOT, "%4d  %7.4f  %+8.2f%s%n", p.bits(), p.top1(),
                    (p.top1() - r.baselineTop1()) * 100, p.bits() == r.capacityBits() ? "  <- capacity" : ""));
        }
        s.append(String.format(Locale.ROOT, "capacity: %d bits per weight, %,d bits in all (top-1 %.4f unmodified; "
                + "within %s up to %d overwritten bits)%n", r.capacityBits(), r.capacityTotalBits(),
                r.baselineTop1(), points(tolerance), r.capacityBits()));
        if (!r.layers().isEmpty()) {
            s.append("per layer (only its weights overwritten; N = 23 first, then binary search):\n");
            int width = Math.max(5, r.layers().stream().mapToInt(l -> l.layer().length()).max().orElse(5));
            s.append(String.format(Locale.ROOT, "%-" + width + "s  %-18s  %9s  %8s  %s%n", "layer", "op", "weights",
                    "capacity", "evaluated (bits: top-1)"));
            for (CapacityAnalysis.LayerCapacity l : r.layers()) {
                s.append(String.format(Locale.ROOT, "%-" + width + "s  %-18s  %9d  %8d  %s%n", l.layer(), l.opType(),
                        l.values(), l.capacityBits(), l.evaluated().stream()
                                .map(p -> String.format(Locale.ROOT, "%d: %.4f", p.bits(), p.top1()))
                                .collect(Collectors.joining(", "))));
            }
        }
        return s.toString();
    }

    static String json(String model, String dataset, CapacityAnalysis.Result r) {
        JsonObject o = new JsonObject();
        o.addProperty("model", model);
        o.addProperty("dataset", dataset);
        o.addProperty("test_images", r.testImages());
        o.addProperty("weight_values", r.weightValues());
        o.addProperty("tolerance_points", r.settings().tolerancePoints());
        o.addProperty("seed", r.settings().seed());
        o.addProperty("baseline_top1", r.baselineTop1());
        o.add("curve", points(r.curve()));
        o.addProperty("capacity_bits", r.capacityBits());
        o.addProperty("capacity_total_bits", r.capacityTotalBits());
        JsonArray layers = new JsonArray();
        for (CapacityAnalysis.LayerCapacity l : r.layers()) {
            JsonObject layer = new JsonObject();
            layer.addProperty("layer", l.layer());
            layer.addProperty("op", l.opType());
            layer.addProperty("weight_values", l.values());
            layer.addProperty("capacity_bits", l.capacityBits());
            layer.add("evaluated", points(l.evaluated()));
            layers.add(layer);
        }
        o.add("layers", layers);
        o.addProperty("seconds", r.seconds());
        return new GsonBuilder().setPrettyPrinting().create().toJson(o) + "\n";
    }

    private static JsonArray points(java.util.List<CapacityAnalysis.Point> points) {
        JsonArray a = new JsonArray();
        for (CapacityAnalysis.Point p : points) {
            JsonObject o = new JsonObject();
            o.addProperty("bits", p.bits());
            o.addProperty("top1", p.top1());
            a.add(o);
        }
        return a;
    }

    private static String points(double v) {
        String number = v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
        return number + (v == 1 ? " point" : " points");
    }
}
