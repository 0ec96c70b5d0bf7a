#include <stdio.h>
#include <stdint.h>
#include <string.h>
#define __STDC_FORMAT_MACROS
#include "driver/ppm_events_public.h"
struct ppm_syscall_desc { enum ppm_event_category category; enum ppm_event_flags flags; char *name; };
extern const struct ppm_event_info g_event_info[];
extern const struct syscall_evt_pair g_syscall_table[];
extern const enum ppm_syscall_code g_syscall_code_routing_table[];
extern const struct ppm_syscall_desc g_syscall_info_table[];
int main(int argc, char** argv) {
  if (argc > 1 && !strcmp(argv[1], "events")) {
    for (int i = 0; i < PPM_EVENT_MAX; i++) {
      const struct ppm_event_info* e = &g_event_info[i];
      printf("%d\t%s\t%d\t%d\t%u", i, e->name, e->category, e->flags, e->nparams);
      for (unsigned j = 0; j < e->nparams; j++) printf("\t%s:%d:%d", e->params[j].name, e->params[j].type, e->params[j].fmt);
      printf("\n");
    }
  } else if (argc > 1 && !strcmp(argv[1], "syscalls")) {
    for (int i = 0; i < SYSCALL_TABLE_SIZE; i++) {
      printf("%d\t%d\t%d\t%d\t%d\n", i, g_syscall_table[i].flags, g_syscall_table[i].enter_event_type, g_syscall_table[i].exit_event_type, g_syscall_code_routing_table[i]);
    }
  } else if (argc > 1 && !strcmp(argv[1], "sc")) {
    for (int i = 0; i < PPM_SC_MAX; i++) printf("%d\t%s\n", i, g_syscall_info_table[i].name);
  } else {
    printf("PPM_EVENT_MAX %d PPM_SC_MAX %d sizeof evt_hdr %zu\n", PPM_EVENT_MAX, PPM_SC_MAX, sizeof(struct ppm_evt_hdr));
  }
}
