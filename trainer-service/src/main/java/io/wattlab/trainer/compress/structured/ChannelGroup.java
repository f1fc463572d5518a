package io.wattlab.trainer.compress.structured;

import io.wattlab.trainer.graph.Node;
import java.util.List;

/**
 * A set of channels that must be pruned together, and every tensor slice that holds one of them:
 * the filters that produce the channels, the per-channel parameters they pass through (BatchNorm,
 * depthwise filters, biases, per-channel constants) and the input slices of the weights that
 * consume them. Channel {@code c} of the group is, in each member, the indices
 * {@code [offset + c·block, offset + (c+1)·block)} of one axis of one node input.
 *
 * @param channels how many channels the group has
 * @param leftAlone why the group must not be pruned (it reaches a graph output, or a node the
 *     analysis does not understand); empty when it may be
 */
public record ChannelGroup(int id, int channels, List<Member> members, String leftAlone) {

  public ChannelGroup {
    members = List.copyOf(members);
  }

  /** What a member does with the group's channels. */
  public enum Role {
    /** A weight whose rows along the axis compute the channels (scored by their norm). */
    PRODUCER,
    /** A per-channel value the channels pass through: BatchNorm, depthwise filter, bias, scale. */
    CHANNELWISE,
    /** A weight that reads the channels: its input columns along the axis. */
    CONSUMER
  }

  /** One node input holding the group's channels along one axis. */
  public record Member(Role role, Node node, int input, int axis, long offset, long block) {

    /** Where channel c starts along the axis; it holds {@code block} indices from there. */
    public long first(int channel) {
      return offset + channel * block;
    }
  }

  public boolean prunable() {
    return leftAlone.isEmpty();
  }

  public List<Member> producers() {
    return members.stream().filter(m -> m.role() == Role.PRODUCER).toList();
  }
}
