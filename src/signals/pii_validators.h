/* pii_validators.h - internals of pii_validators.c shared with the scanner
 * (pii_recognizers.c) only; the public validators are in pii_recognizers.h. */
#ifndef TETHER_SIGNALS_PII_VALIDATORS_H
#define TETHER_SIGNALS_PII_VALIDATORS_H

/* IBAN length registered for country code ab (ECBS/SWIFT), 0 when unknown. */
int pii_iban_country_len(char a, char b);

#endif
