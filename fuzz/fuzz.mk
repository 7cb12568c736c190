# fuzz.mk — the GNU make rules behind `make fuzz` (fuzz/fuzz.am passes
# srcdir, the library sources, the preprocessor flags and the libraries).
#
# Every library source is compiled with clang, libFuzzer's coverage,
# AddressSanitizer and UBSan (any UB report fatal) into fuzz/build/obj;
# each harness fuzz/fuzz_NAME.c is linked into fuzz/build/fuzz_NAME and
# run for FUZZ_SECONDS on its seeds ($(srcdir)/fuzz/corpus/NAME, read
# only) plus what it has found so far (fuzz/build/corpus/NAME).  An input
# that crashes, leaks, times out or runs out of memory is kept as
# fuzz/build/crashes/NAME/crash-* (or leak-, timeout-, oom-); each run
# appends a line to fuzz/build/fuzz.log: harness, seconds it ran (less
# than FUZZ_SECONDS when it stopped on a finding), executions, corpus
# size, result.
HARNESSES ?= yaml prototxt caffemodel datum idx hdf5 mean recipe
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_OPTS ?=
SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
CFLAGS_F = -g -O1 -std=c11 -pthread -Wno-unused-command-line-argument $(SAN)
OBJDIR = fuzz/build/obj
LIB_C = $(filter %.c,$(LIB_SRCS))
LIB_OBJ = $(LIB_C:%.c=$(OBJDIR)/%.o)
BINS = $(HARNESSES:%=fuzz/build/fuzz_%)
# AM_CPPFLAGS quotes CF_DATADIR for the shell, which the trip through
# fuzz.am's command line undoes: put the quotes back.
CPPFLAGS_F = $(filter-out -DCF_DATADIR=%,$(CPPFLAGS_ALL)) -DCF_DATADIR='"$(DATADIR)"'
vpath %.c $(srcdir)
vpath %.h $(srcdir)/fuzz

all: $(BINS)

# Each object and harness records the headers it read (-MMD), so that a
# changed header rebuilds what uses it: without this an object compiled
# against an older struct layout was linked with newer ones (a stale
# dnnl_ip.o read a dn_tensor without its 'ext' field and crashed in
# oneDNN on the first recipe with an InnerProduct).
DEPFLAGS = -MMD -MP
-include $(LIB_OBJ:.o=.d) $(BINS:=.d)

$(OBJDIR)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  FUZZCC   $@"
	@$(FUZZ_CC) $(CFLAGS_F) $(DEPFLAGS) -fsanitize=fuzzer-no-link $(CPPFLAGS_F) -c -o $@ $<

fuzz/build/libfuzzcf.a: $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

fuzz/build/fuzz_%: fuzz/fuzz_%.c fuzz_common.h fuzz_net.h fuzz/build/libfuzzcf.a
	@echo "  FUZZLD   $@"
	@$(FUZZ_CC) $(CFLAGS_F) $(DEPFLAGS) -MF $@.d -fsanitize=fuzzer $(CPPFLAGS_F) -I$(srcdir)/fuzz -o $@ $< fuzz/build/libfuzzcf.a $(LIBS_ALL)

# One harness after the other (never two at once: each takes a core and
# the machine may be shared).  Paths are absolute: the recipe harness
# works in a directory of its own.  The exit status is 1 when any run found a
# crash; the other harnesses still run.
run: $(BINS)
	@found=0; \
	for h in $(HARNESSES); do \
	  mkdir -p fuzz/build/corpus/$$h fuzz/build/crashes/$$h; \
	  before=$$(ls fuzz/build/crashes/$$h | wc -l); \
	  echo "fuzz_$$h: $(FUZZ_SECONDS) s"; t0=$$(date +%s); \
	  ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1:suppressions=$(abspath $(srcdir))/fuzz/asan.supp} \
	  LSAN_OPTIONS=suppressions=$(abspath $(srcdir))/fuzz/lsan.supp \
	  ./fuzz/build/fuzz_$$h -max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix=$$PWD/fuzz/build/crashes/$$h/ $(FUZZ_OPTS) \
	    $$PWD/fuzz/build/corpus/$$h $(abspath $(srcdir))/fuzz/corpus/$$h > fuzz/build/fuzz_$$h.out 2>&1; \
	  rc=$$?; el=$$(( $$(date +%s) - t0 )); \
	  execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz/build/fuzz_$$h.out | tail -n 1); \
	  secs=$$(sed -n 's/^stat::average_exec_per_sec: *//p' fuzz/build/fuzz_$$h.out | tail -n 1); \
	  ncorp=$$(ls fuzz/build/corpus/$$h | wc -l); \
	  after=$$(ls fuzz/build/crashes/$$h | wc -l); \
	  if [ $$rc -eq 0 ]; then res=clean; else res="FOUND (exit $$rc, see fuzz/build/fuzz_$$h.out)"; found=1; fi; \
	  line="$$(date -u +%Y-%m-%dT%H:%MZ) fuzz_$$h $${el}s execs=$${execs:-?} exec/s=$${secs:-?} corpus=$$ncorp new_artifacts=$$((after - before)) $$res"; \
	  echo "$$line"; echo "$$line" >> fuzz/build/fuzz.log; \
	done; \
	ls fuzz/build/crashes/*/* 2>/dev/null | sed 's/^/  kept: /'; \
	exit $$found

.PHONY: all run
