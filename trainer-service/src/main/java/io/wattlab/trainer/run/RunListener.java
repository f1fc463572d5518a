package io.wattlab.trainer.run;

import io.wattlab.proto.v1.EnergySummary;
import io.wattlab.proto.v1.EpochReport;
import io.wattlab.proto.v1.PhaseChange;
import io.wattlab.proto.v1.RunReport;

/** What an executor tells the service while a run goes on. */
public interface RunListener {

    void phase(PhaseChange change);

    void epoch(EpochReport epoch);

    /** Energy of the run so far. */
    void energy(EnergySummary soFar);

    /** The report as it stands, so that a crash or cancel keeps it. */
    void partial(RunReport report);
}
