# sanitize.mk — GNU make rules behind tests/test_sanitizers.sh (called
# through `make sanitize-build`, which passes srcdir, CC, the library and
# test sources, the preprocessor flags and the libraries): the engine, the
# program's library, the test helpers and every Criterion test compiled
# again with AddressSanitizer and UBSan into tests/sanitizers/, without a
# second configure (which a source tree configured in place would refuse).
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer
CFLAGS_S = -O1 -g -std=c11 -pthread -Wno-unused-parameter $(SAN)
CPPFLAGS_S = $(filter-out -DCF_DATADIR=%,$(CPPFLAGS_ALL)) -DCF_DATADIR='"$(DATADIR)"'
OBJDIR = tests/sanitizers/obj
LIB_OBJ = $(patsubst %.c,$(OBJDIR)/%.o,$(filter %.c,$(LIB_SRCS)))
TEST_BINS = $(patsubst %,tests/sanitizers/%,$(TEST_PROGS))
vpath %.c $(srcdir)

all: $(TEST_BINS)

$(OBJDIR)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  SANCC    $@"
	@$(CC) $(CFLAGS_S) $(CPPFLAGS_S) -I$(srcdir)/tests $(CRITERION_CFLAGS) -c -o $@ $<

tests/sanitizers/libsan.a: $(LIB_OBJ) $(OBJDIR)/tests/testutil.o
	@rm -f $@
	@ar rcs $@ $^

tests/sanitizers/tests/%: $(OBJDIR)/tests/%.o tests/sanitizers/libsan.a
	@mkdir -p $(@D)
	@echo "  SANLD    $@"
	@$(CC) $(CFLAGS_S) -o $@ $< tests/sanitizers/libsan.a $(LIBS_ALL)

.PHONY: all
# keep the test objects: a second run then only rebuilds what changed
.SECONDARY:
