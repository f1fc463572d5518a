package io.wattlab.meter.sink.influx;

import io.wattlab.meter.sample.Channel;
import io.wattlab.meter.sample.Sample;
import io.wattlab.meter.sample.Source;
import io.wattlab.testing.InfluxServer;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

class PointEncoderTest {

    private static final long T0 = 1_700_000_000_123_456_789L;
    private static final Channel GPU = new Channel("nvml", "gpu", "0", Source.MEASURED, true,
            Map.of("name", "NVIDIA A100"));

    @Test
    void linesHaveSortedEscapedTagsExactFieldsAndNanosecondTimestamps() {
        PointEncoder encoder = new PointEncoder("node 1", Map.of("job", "resnet 50,fp16=a", "zone", "eu\nwest", "empty", ""));

        List<String> lines = encoder.encode(new Sample(T0, GPU, 250.25, 1_000.5,
                Map.of("utilization_gpu_percent", 87.0, "memory_used_bytes", 3.2212254720E10, "odd name", 1.0E-7)));

        String tags = ",device=0,domain=gpu,host=node\\ 1,in_total=true,job=resnet\\ 50\\,fp16\\=a,sensor=nvml,"
                + "source=measured,zone=eu\\ west";
        assertEquals(List.of(
                "power" + tags + " watts=250.25 " + T0,
                "energy" + tags + " joules=1000.5 " + T0,
                "gauges" + tags + " memory_used_bytes=3.221225472E10,odd\\ name=1.0E-7,utilization_gpu_percent=87.0 " + T0),
                lines);
    }

    @Test
    void valuesThatAreNotFiniteAreLeftOutAndAChannelTagWinsOverAStaticOne() {
        PointEncoder encoder = new PointEncoder("h", Map.of("domain", "static"));

        assertEquals(List.of("energy,device=0,domain=gpu,host=h,in_total=true,sensor=nvml,source=measured joules=2.0 " + T0),
                encoder.encode(new Sample(T0, GPU, Double.NaN, 2.0, Map.of("x", Double.POSITIVE_INFINITY))));
    }

    @Test
    void influxReadsBackEveryDoubleExactly() {
        double[] values = {0.1 + 0.2, 1.0E-7, 1.5E9, 3.2212254720E10, 1.0E22, 123456.789e200, Double.MAX_VALUE,
                Double.MIN_VALUE, Double.MIN_NORMAL, -273.15, 1.0 / 3.0, 65.125};
        PointEncoder encoder = new PointEncoder("h", Map.of());
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < values.length; i++) {
            lines.add(encoder.encode(new Sample(T0 + i, GPU, values[i], 0.0)).get(0));
        }
        try (InfluxServer influx = InfluxServer.launch()) {
            influx.query(null, "CREATE DATABASE doubles");
            influx.write("doubles", lines.toArray(new String[0]));

            List<InfluxServer.Row> rows = influx.rows("doubles", "SELECT watts FROM power");
            assertEquals(values.length, rows.size());
            for (int i = 0; i < values.length; i++) {
                assertEquals(T0 + i, rows.get(i).timeNanos());
                assertEquals(values[i], rows.get(i).number("watts"), 0.0, lines.get(i));
            }
        }
    }
}
