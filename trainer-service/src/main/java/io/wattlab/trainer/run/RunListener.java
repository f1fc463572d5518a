package io.wattlab.trainer.run;

import io.wattlab.proto.v1.EnergySummary;
import io.wattlab.proto.v1.EpochReport;
import io.wattlab.proto.v1.PhaseChange;
import io.wattlab.proto.v1.RunReport;

/** What an executor tells the service while a run goes on. */
public interface RunListener {

    /** A listener that keeps nothing, for callers that only want the final report. */
    RunListener NONE = new RunListener() {
        @Override
        public void phase(PhaseChange change) {
        }

        @Override
        public void epoch(EpochReport epoch) {
        }

        @Override
        public void energy(EnergySummary soFar) {
        }

        @Override
        public void partial(RunReport report) {
        }
    };

    void phase(PhaseChange change);

    void epoch(EpochReport epoch);

    /** Energy of the run so far. */
    void energy(EnergySummary soFar);

    /** The report as it stands, so that a crash or cancel keeps it. */
    void partial(RunReport report);
}
