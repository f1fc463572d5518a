package io.wattlab.trainer.run;

import java.util.concurrent.atomic.AtomicBoolean;

/** Raised by CancelRun; an executor polls it at step boundaries. */
public final class CancelSignal {

    private final AtomicBoolean raised = new AtomicBoolean();

    public void raise() {
        raised.set(true);
    }

    public boolean isRaised() {
        return raised.get();
    }
}
