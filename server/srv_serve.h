/* `dustwatch serve`: runs the roles named by --roles in one process. */
#ifndef DW_SRV_SERVE_H
#define DW_SRV_SERVE_H

int srv_serve_main(int argc, char **argv);

#endif
