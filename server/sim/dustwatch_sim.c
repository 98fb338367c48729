/* dustwatch-sim: the gateway simulator as its own binary, so the server
 * binary carries none of it (`dustwatch simulate` runs this). */
#include "sim_main.h"

int main(int argc, char **argv)
{
    return sim_main(argc, argv);
}
