# The README's commands, for those who type make.
.PHONY: test bench

test:
	bash scripts/test.sh

# BENCHFLAGS go to cmd/bench, e.g. make bench BENCHFLAGS='-size 4GiB -rounds 1'
bench:
	bash scripts/bench.sh $(BENCHFLAGS)
