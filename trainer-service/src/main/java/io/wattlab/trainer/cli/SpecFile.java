package io.wattlab.trainer.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.proto.v1.StartRunRequest;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Reads a run spec from YAML whose fields are the {@link RunSpec}'s, with the proto's names
 * ({@code batch_size}, {@code learning_rate}, ...), so that a spec file and a {@code StartRun}
 * request are one and the same. The whole file is the spec; a file with a single {@code spec:} key
 * is read as a {@code StartRunRequest}.
 *
 * <p>YAML is turned into JSON and read by protobuf's own JSON parser, so that names, enum values and
 * number ranges follow the proto's JSON mapping exactly; fields are first checked against the
 * message descriptors, so that a misspelt field is reported with its path.
 */
public final class SpecFile {

    private SpecFile() {
    }

    /** @throws SpecFileException naming the file and, where it can, the field or line */
    public static RunSpec read(Path file) throws SpecFileException {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new SpecFileException(file + ": no such file");
        } catch (IOException e) {
            throw new SpecFileException(file + ": cannot be read: " + e.getMessage());
        }
        return parse(text, file.toString());
    }

    /** @param source names the text in messages, such as its file name */
    public static RunSpec parse(String yaml, String source) throws SpecFileException {
        Object document;
        try {
            LoaderOptions options = new LoaderOptions();
            options.setAllowDuplicateKeys(false);
            document = new Yaml(new SafeConstructor(options)).load(yaml);
        } catch (MarkedYAMLException e) {
            Mark mark = e.getProblemMark();
            throw new SpecFileException(source + ": line " + (mark.getLine() + 1) + ", column " + (mark.getColumn() + 1)
                    + ": " + (e.getProblem() == null ? e.getMessage() : e.getProblem()));
        } catch (YAMLException e) {
            throw new SpecFileException(source + ": not YAML: " + e.getMessage());
        }
        if (document == null) {
            throw new SpecFileException(source + ": empty; a run spec needs at least model and dataset");
        }
        if (!(document instanceof Map<?, ?> map)) {
            throw new SpecFileException(source + ": expected a mapping of run spec fields (model, dataset, epochs, ...)");
        }
        boolean request = map.size() == 1 && map.containsKey("spec");
        Descriptor type = request ? StartRunRequest.getDescriptor() : RunSpec.getDescriptor();
        checkFields(map, type, request ? "" : "spec", source);
        JsonObject tree = toJson(document).getAsJsonObject();
        String json = tree.toString();
        try {
            if (request) {
                StartRunRequest.Builder builder = StartRunRequest.newBuilder();
                JsonFormat.parser().merge(json, builder);
                return builder.getSpec();
            }
            RunSpec.Builder builder = RunSpec.newBuilder();
            JsonFormat.parser().merge(json, builder);
            return builder.build();
        } catch (InvalidProtocolBufferException e) {
            String field = locate(tree, type, request ? "" : "spec");
            throw new SpecFileException(source + ": " + (field == null ? "" : field + ": ") + e.getMessage());
        }
    }

    /**
     * The path of the field the JSON parser refused, found by parsing each field on its own (the
     * parser's message gives the value but not where it is); null where no single field fails.
     */
    private static String locate(JsonObject object, Descriptor type, String path) {
        for (Map.Entry<String, JsonElement> entry : object.entrySet()) {
            JsonObject alone = new JsonObject();
            alone.add(entry.getKey(), entry.getValue());
            try {
                JsonFormat.parser().merge(alone.toString(), DynamicMessage.newBuilder(type));
            } catch (InvalidProtocolBufferException e) {
                String fieldPath = path.isEmpty() ? entry.getKey() : path + "." + entry.getKey();
                FieldDescriptor field = type.findFieldByName(entry.getKey());
                if (field != null && field.getJavaType() == FieldDescriptor.JavaType.MESSAGE && !field.isRepeated()
                        && entry.getValue().isJsonObject()) {
                    String inner = locate(entry.getValue().getAsJsonObject(), field.getMessageType(), fieldPath);
                    return inner == null ? fieldPath : inner;
                }
                return fieldPath;
            }
        }
        return null;
    }

    /** Fails on the first key that is no field of {@code type}, naming its path. */
    private static void checkFields(Map<?, ?> map, Descriptor type, String path, String source) throws SpecFileException {
        for (Map.Entry<?, ?> entry : map.entrySet()) {
            String key = String.valueOf(entry.getKey());
            String fieldPath = path.isEmpty() ? key : path + "." + key;
            FieldDescriptor field = type.findFieldByName(key);
            if (field == null) {
                field = type.getFields().stream().filter(f -> f.getJsonName().equals(key)).findFirst().orElse(null);
            }
            if (field == null) {
                throw new SpecFileException(source + ": " + fieldPath + ": unknown field (" + type.getName() + " has: "
                        + type.getFields().stream().map(FieldDescriptor::getName).collect(Collectors.joining(", ")) + ")");
            }
            if (field.getJavaType() != FieldDescriptor.JavaType.MESSAGE) {
                continue;
            }
            Object value = entry.getValue();
            if (field.isMapField()) {
                FieldDescriptor valueField = field.getMessageType().findFieldByName("value");
                if (valueField.getJavaType() == FieldDescriptor.JavaType.MESSAGE && value instanceof Map<?, ?> entries) {
                    for (Map.Entry<?, ?> e : entries.entrySet()) {
                        if (e.getValue() instanceof Map<?, ?> inner) {
                            checkFields(inner, valueField.getMessageType(), fieldPath + "." + e.getKey(), source);
                        }
                    }
                }
            } else if (field.isRepeated() && value instanceof List<?> list) {
                for (int i = 0; i < list.size(); i++) {
                    if (list.get(i) instanceof Map<?, ?> inner) {
                        checkFields(inner, field.getMessageType(), fieldPath + "[" + i + "]", source);
                    }
                }
            } else if (value instanceof Map<?, ?> inner) {
                checkFields(inner, field.getMessageType(), fieldPath, source);
            }
            // A value of the wrong kind is left to the JSON parser, which names the field and the value.
        }
    }

    private static JsonElement toJson(Object yaml) {
        if (yaml == null) {
            return JsonNull.INSTANCE;
        }
        if (yaml instanceof Map<?, ?> map) {
            JsonObject object = new JsonObject();
            map.forEach((k, v) -> object.add(String.valueOf(k), toJson(v)));
            return object;
        }
        if (yaml instanceof List<?> list) {
            JsonArray array = new JsonArray();
            list.forEach(v -> array.add(toJson(v)));
            return array;
        }
        if (yaml instanceof Boolean b) {
            return new JsonPrimitive(b);
        }
        if (yaml instanceof Double d && (d.isNaN() || d.isInfinite())) {
            // JSON has no literal for these; the proto JSON mapping spells them as strings.
            return new JsonPrimitive(d.isNaN() ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        }
        if (yaml instanceof Number n) {
            return new JsonPrimitive(n);
        }
        // Strings, and YAML scalars such as dates that the proto only knows as text.
        return new JsonPrimitive(String.valueOf(yaml));
    }
}
