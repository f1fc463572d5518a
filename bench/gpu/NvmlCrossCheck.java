import io.wattlab.meter.sample.MeterClock;
import io.wattlab.meter.sample.Reading;
import io.wattlab.meter.sensor.nvml.GpuProcess;
import io.wattlab.meter.sensor.nvml.NvmlConfig;
import io.wattlab.meter.sensor.nvml.NvmlSensor;
import io.wattlab.meter.sensor.PowerIntegrator;

import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * On a machine with a real NVIDIA driver: reads the NVML sensor at 10 Hz for N seconds and compares,
 * per GPU, the energy from the hardware counter with the trapezoid integral of the power readings.
 * Run it while the GPU is busy (bench/gpu/run.sh starts a burner).
 *
 * usage: java -cp "meter-daemon/target/meter-daemon.jar:meter-daemon/target/lib/*:bench/gpu" NvmlCrossCheck [seconds]
 */
public final class NvmlCrossCheck {

    public static void main(String[] args) throws Exception {
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 10;
        MeterClock clock = new MeterClock();
        try (NvmlSensor sensor = NvmlSensor.open(NvmlConfig.defaults())) {
            System.out.println("status: " + sensor.status());
            Map<String, PowerIntegrator> integrals = new HashMap<>();
            Map<String, Double> firstEnergy = new HashMap<>();
            Map<String, Reading> last = new HashMap<>();
            long start = System.nanoTime();
            long reads = 0;
            double slowestMillis = 0;
            while ((System.nanoTime() - start) / 1e9 < seconds) {
                long now = clock.nowNanos();
                long t0 = System.nanoTime();
                List<Reading> readings = sensor.read(now);
                slowestMillis = Math.max(slowestMillis, (System.nanoTime() - t0) / 1e6);
                reads++;
                for (Reading r : readings) {
                    String key = r.channel().key();
                    integrals.computeIfAbsent(key, k -> new PowerIntegrator()).add(now, r.powerWatts());
                    firstEnergy.putIfAbsent(key, r.energyJoules());
                    last.put(key, r);
                }
                Thread.sleep(100);
            }
            System.out.printf(Locale.ROOT, "%d reads in %.1f s, slowest read of all GPUs %.2f ms%n", reads, seconds, slowestMillis);
            for (Map.Entry<String, Reading> e : last.entrySet()) {
                String key = e.getKey();
                double counter = e.getValue().energyJoules() - firstEnergy.get(key);
                double integral = integrals.get(key).energyJoules();
                System.out.printf(Locale.ROOT, "%s (%s): counter %.1f J, power integral %.1f J, ratio %.4f, mean %.1f W, gauges %s%n",
                        key, e.getValue().channel().attributes().get("energy_source"), counter, integral,
                        integral / counter, counter / seconds, e.getValue().gauges());
            }
            for (GpuProcess p : sensor.computeProcesses()) {
                System.out.println("process: " + p);
            }
        }
    }
}
