/* cls_tables.h - the label tables the classifier reply tests read replies
 * with (test_classify_parse, test_classify_batch): which 0 = no labels and
 * no positive labels, 1 = two labels with "jailbreak" positive, 2 = no labels
 * with three positive ones, 3 = three labels (one non-ASCII) with three
 * positive ones (one not among them, with an escaped quote). */
#ifndef TETHER_TEST_CLS_TABLES_H
#define TETHER_TEST_CLS_TABLES_H
#include "config/global.h"

static char *lab2[] = {"benign", "jailbreak"};
static char *lab3[] = {"safe", "toxic", "caf\xc3\xa9"};
static char *pos1[] = {"jailbreak"};
static char *pos2[] = {"toxic", "caf\xc3\xa9", "x\"y"};

static inline cfg_classifier_t table(int which)
{
    cfg_classifier_t k = {0};
    if (which == 1 || which == 3) {
        k.labels.v = which == 1 ? lab2 : lab3;
        k.labels.n = which == 1 ? 2 : 3;
    }
    if (which >= 1) {
        k.positive_labels.v = which == 1 ? pos1 : pos2;
        k.positive_labels.n = which == 1 ? 1 : 3;
    }
    return k;
}
#endif
