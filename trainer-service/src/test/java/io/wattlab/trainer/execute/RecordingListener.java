package io.wattlab.trainer.execute;

import io.wattlab.proto.v1.EnergySummary;
import io.wattlab.proto.v1.EpochReport;
import io.wattlab.proto.v1.PhaseChange;
import io.wattlab.proto.v1.RunReport;
import io.wattlab.trainer.run.RunListener;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Consumer;

/** Keeps what an executor told it, in order, as short strings ("start train 1", "epoch 1", "end train 1"). */
final class RecordingListener implements RunListener {

    final List<String> events = Collections.synchronizedList(new ArrayList<>());
    final List<EnergySummary> energies = Collections.synchronizedList(new ArrayList<>());
    volatile RunReport lastPartial;
    private final Consumer<PhaseChange> onPhase;

    RecordingListener() {
        this(p -> { });
    }

    RecordingListener(Consumer<PhaseChange> onPhase) {
        this.onPhase = onPhase;
    }

    @Override
    public void phase(PhaseChange change) {
        events.add((change.getStarted() ? "start " : "end ") + change.getPhase()
                + (change.getEpoch() > 0 ? " " + change.getEpoch() : ""));
        onPhase.accept(change);
    }

    @Override
    public void epoch(EpochReport epoch) {
        events.add("epoch " + epoch.getEpoch());
    }

    @Override
    public void energy(EnergySummary soFar) {
        energies.add(soFar);
    }

    @Override
    public void partial(RunReport report) {
        lastPartial = report;
    }
}
