/* The configuration file parser (srv_config_load): the whole input is the
 * file, written to a memfd and loaded by its /proc path as a real file.
 * Each loaded host:port is split again, as the listeners do. */
#include "fuzz_common.h"

#include "srv_config.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("dw-fuzz-config", 0);
        FUZZ_CHECK(fd >= 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
    char err[512];
    err[0] = '\0';
    if (srv_config_load(path, err, sizeof err) != 0) {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL);
    } else {
        char host[256];
        int port;
        FUZZ_CHECK(srv_config_split_addr(g_config.api_listen, host, sizeof host, &port) == 0);
        FUZZ_CHECK(srv_config_split_addr(g_config.ingest_listen, host, sizeof host, &port) == 0);
        FUZZ_CHECK(port >= 0 && port <= 65535);
    }
    srv_config_free();
    return 0;
}
