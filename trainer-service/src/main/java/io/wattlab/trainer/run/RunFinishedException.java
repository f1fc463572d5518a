package io.wattlab.trainer.run;

/** The run has ended already, so there is nothing left to cancel. */
public class RunFinishedException extends Exception {

    public RunFinishedException(String message) {
        super(message);
    }
}
