# test tools: owned by the tgt-harness engineer
