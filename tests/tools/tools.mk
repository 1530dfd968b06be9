# Test tools and the tgtd test harness (tgt-harness engineer).
dist_noinst_DATA += tests/bats/lib/tgtd.bash
