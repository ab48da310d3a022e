/* SysV IPC for the pod tests, as ipcmk and ipcs would show it (Debian's
 * busybox has neither): `sysvipc make KEY` creates a shared memory segment
 * under KEY and prints its id; `sysvipc find KEY` prints the id of the
 * segment under KEY in this IPC namespace, or exits 1 if there is none. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

int main(int argc, char **argv)
{
    int id;

    if (argc != 3 || (strcmp(argv[1], "make") && strcmp(argv[1], "find"))) {
        fprintf(stderr, "usage: sysvipc make|find KEY\n");
        return 2;
    }
    id = shmget((key_t)atoi(argv[2]), 4096,
                strcmp(argv[1], "make") ? 0 : IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0) {
        perror("shmget");
        return 1;
    }
    printf("%d\n", id);
    return 0;
}
