/**
 * Grid carbon intensity: the shipped table of country averages ({@link
 * io.wattlab.trainer.carbon.CarbonIntensities}), its source in docs/carbon.md.
 */
package io.wattlab.trainer.carbon;
