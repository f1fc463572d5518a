package io.wattlab.trainer.run;

/** A watcher's hold on a run's events; closing it stops them (the client went away). */
public interface RunWatch extends AutoCloseable {

    @Override
    void close();
}
