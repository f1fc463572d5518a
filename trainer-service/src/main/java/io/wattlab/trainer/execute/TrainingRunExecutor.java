package io.wattlab.trainer.execute;

import io.micronaut.context.env.Environment;
import io.micronaut.core.value.PropertyResolver;
import io.wattlab.meter.daemon.MeterDaemon;
import io.wattlab.proto.v1.RunReport;
import io.wattlab.proto.v1.RunSpec;
import io.wattlab.trainer.metering.EnergyMeter;
import io.wattlab.trainer.metering.InProcessMeter;
import io.wattlab.trainer.metering.RemoteMeter;
import io.wattlab.trainer.run.CancelSignal;
import io.wattlab.trainer.run.RunCancelledException;
import io.wattlab.trainer.run.RunExecutor;
import io.wattlab.trainer.run.RunFailedException;
import io.wattlab.trainer.run.RunListener;
import jakarta.annotation.PreDestroy;
import jakarta.inject.Inject;
import jakarta.inject.Named;
import jakarta.inject.Provider;
import jakarta.inject.Singleton;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.wattlab.trainer.compress.InvalidCompressionException;
import io.wattlab.trainer.compress.Techniques;

import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/**
 * The {@link RunExecutor} of the service: trains ONNX models on ONNX Runtime with every phase
 * metered (in-process sensors, or a meter-daemon at {@code wattlab.meter.address}) and, when
 * {@code wattlab.influx.url} is set, run events in InfluxDB. The work of one run is a
 * {@link RunExecution}.
 */
@Singleton
public class TrainingRunExecutor implements RunExecutor, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(TrainingRunExecutor.class);

    private final ExecutorSettings settings;
    private final EnergyMeter meter;
    private final ModelSource models;
    private final CarbonIntensities carbon;
    private final ModelFactsProvider facts;

    /**
     * @param models  file paths and built-in names ({@link ModelSource#of})
     * @param carbon  region lookups; {@link CarbonIntensities#none()} without a table
     * @param facts   model size figures; {@link ModelFactsProvider#fromInitializers()} without MACs
     */
    public TrainingRunExecutor(ExecutorSettings settings, EnergyMeter meter, ModelSource models,
                               CarbonIntensities carbon, ModelFactsProvider facts) {
        this.settings = settings;
        this.meter = meter;
        this.models = models;
        this.carbon = carbon;
        this.facts = facts;
        LOG.info("run executor: energy from {}; run events {}; trained models under {}", meter.describe(),
                settings.influx().map(t -> "to InfluxDB " + t.url() + " database " + t.database()).orElse("not written"),
                settings.runsDirectory());
    }

    /**
     * Built from configuration; the beans the service may provide plug in where present. The
     * in-process meter is meter-daemon's own {@link MeterDaemon} bean (its MeterFactory is on the
     * class path), so that one set of sensors feeds both, and it is only asked for when no meter
     * address is configured.
     */
    @Inject
    public TrainingRunExecutor(Environment configuration, Provider<MeterDaemon> inProcess,
                               @Named("builtin") Optional<ModelSource> builtins, Optional<CarbonIntensities> carbon,
                               Optional<ModelFactsProvider> facts) {
        this(ExecutorSettings.from(configuration),
                ExecutorSettings.from(configuration).meterAddress().<EnergyMeter>map(RemoteMeter::new)
                        .orElseGet(() -> new InProcessMeter(inProcess.get())),
                ModelSource.of(new FileModelSource(), builtins.orElse(ModelSource.noBuiltins())),
                carbon.orElse(CarbonIntensities.none()), facts.orElse(ModelFactsProvider.fromInitializers()));
    }

    /** Outside Micronaut: the remote meter when {@code wattlab.meter.address} is set, else sensors started in this process. */
    public static EnergyMeter meterFor(PropertyResolver configuration) {
        return ExecutorSettings.from(configuration).meterAddress().<EnergyMeter>map(RemoteMeter::new)
                .orElseGet(() -> InProcessMeter.start(configuration));
    }

    public Path runsDirectory() {
        return settings.runsDirectory();
    }

    @Override
    public RunReport execute(String runId, RunSpec spec, RunListener listener, CancelSignal cancel)
            throws RunFailedException, RunCancelledException {
        String model = spec.getModel().hasBuiltin() ? spec.getModel().getBuiltin()
                : Path.of(spec.getModel().getOnnxPath()).getFileName().toString().replaceFirst("\\.onnx$", "");
        String technique = spec.getCompression().getTechnique().isBlank() ? "none" : spec.getCompression().getTechnique();
        Map<String, String> compression;
        try {
            compression = Techniques.create(technique, spec.getCompression().getParametersMap()).parameters().asMap();
        } catch (InvalidCompressionException e) {
            compression = spec.getCompression().getParametersMap(); // the run fails in its compress phase, saying why
        }
        Map<String, String> compressionTags = compression;
        String device = spec.getDevice().isBlank() ? "cpu" : spec.getDevice();
        try (RunEvents events = settings.influx()
                .<RunEvents>map(t -> new InfluxRunEvents(t,
                        InfluxRunEvents.commonTags(runId, model, technique, compressionTags, device,
                                spec.getLabelsMap())))
                .orElseGet(RunEvents::none)) {
            return new RunExecution(runId, spec, listener, cancel, meter, models, carbon, facts, settings, events).run();
        }
    }

    @PreDestroy
    @Override
    public void close() {
        meter.close();
    }
}
