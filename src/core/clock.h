/* clock.h - monotonic and wall clocks. Thread-safe. */
#ifndef TETHER_CORE_CLOCK_H
#define TETHER_CORE_CLOCK_H
#include <stdint.h>
uint64_t clock_mono_us(void);
uint64_t clock_mono_ms(void);
/* Unix time in milliseconds. */
uint64_t clock_wall_ms(void);
#endif
