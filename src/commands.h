/* commands.h — the verbs of the cafetui program.  Each takes the
 * arguments after the verb and returns the exit status:
 * 0 success, 1 runtime failure, 2 bad input (recipe, data, flags). */
#ifndef CF_COMMANDS_H
#define CF_COMMANDS_H

int cf_cmd_train(int argc, char **argv, int first, int force_headless);
int cf_cmd_gradcheck(int argc, char **argv, int first);
int cf_cmd_time(int argc, char **argv, int first);
int cf_cmd_convert(int argc, char **argv, int first);
int cf_cmd_device(int argc, char **argv, int first);
int cf_cmd_test(int argc, char **argv, int first);
int cf_cmd_export(int argc, char **argv, int first);
int cf_cmd_view(int argc, char **argv, int first); /* ui/view_cmd.c */

/* Print an error as "cafetui: loc: ctx: msg" on stderr and return its exit code. */
struct cf_error;
int cf_report(const struct cf_error *err);

#endif
