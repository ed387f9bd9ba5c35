// CICU word-break services (declared in include/wordbreak.h): the per-code-point property table
// that drives HATText's UAX #29 state machine, filled from ICU's property maps, and a thin
// wrapper over ICU's standard word break iterator (used for dictionary segmentation and as a
// cross-check in tests).
#include "wordbreak.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/ucpmap.h>
#include <unicode/uset.h>
#include <unicode/uscript.h>
#include <unicode/ubrk.h>
#include <unicode/utext.h>

// ---------------------------------------------------------------------------------------------
// Property table

static uint16_t *table;               // [HAT_PROP_COUNT], flat, only while building
static uint16_t *stage_index;         // [HAT_PROP_COUNT >> HAT_PROP_BLOCK_SHIFT]
static uint16_t *stage_blocks;        // [distinct blocks * HAT_PROP_BLOCK_SIZE]
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static uint16_t word_break_class(int32_t icu_value) {
    switch (icu_value) {
    case U_WB_CR: return HAT_WB_CR;
    case U_WB_LF: return HAT_WB_LF;
    case U_WB_NEWLINE: return HAT_WB_NEWLINE;
    case U_WB_EXTEND: return HAT_WB_EXTEND;
    case U_WB_ZWJ: return HAT_WB_ZWJ;
    case U_WB_REGIONAL_INDICATOR: return HAT_WB_REGIONAL_INDICATOR;
    case U_WB_FORMAT: return HAT_WB_FORMAT;
    case U_WB_KATAKANA: return HAT_WB_KATAKANA;
    case U_WB_HEBREW_LETTER: return HAT_WB_HEBREW_LETTER;
    case U_WB_ALETTER: return HAT_WB_ALETTER;
    case U_WB_SINGLE_QUOTE: return HAT_WB_SINGLE_QUOTE;
    case U_WB_DOUBLE_QUOTE: return HAT_WB_DOUBLE_QUOTE;
    case U_WB_MIDNUMLET: return HAT_WB_MIDNUMLET;
    case U_WB_MIDLETTER: return HAT_WB_MIDLETTER;
    case U_WB_MIDNUM: return HAT_WB_MIDNUM;
    case U_WB_NUMERIC: return HAT_WB_NUMERIC;
    case U_WB_EXTENDNUMLET: return HAT_WB_EXTENDNUMLET;
    case U_WB_WSEGSPACE: return HAT_WB_WSEGSPACE;
    default: return HAT_WB_OTHER; // Other and the obsolete emoji values (unused since Unicode 11)
    }
}

// Calls `apply(start, end, value, out)` for each range of an integer property.
static int for_each_range(UProperty property, void (*apply)(UChar32, UChar32, uint32_t, uint16_t *)) {
    UErrorCode status = U_ZERO_ERROR;
    const UCPMap *map = u_getIntPropertyMap(property, &status);
    if (U_FAILURE(status) || map == NULL) return 0;
    UChar32 start = 0;
    while (start < HAT_PROP_COUNT) {
        uint32_t value = 0;
        UChar32 end = ucpmap_getRange(map, start, UCPMAP_RANGE_NORMAL, 0, NULL, NULL, &value);
        if (end < start) return 0;
        apply(start, end, value, table);
        start = end + 1;
    }
    return 1;
}

static void apply_word_break(UChar32 start, UChar32 end, uint32_t value, uint16_t *out) {
    uint16_t cls = word_break_class((int32_t)value);
    for (UChar32 c = start; c <= end; c++) out[c] = (uint16_t)((out[c] & ~HAT_PROP_WB_MASK) | cls);
}

static void apply_general_category(UChar32 start, UChar32 end, uint32_t value, uint16_t *out) {
    uint32_t mask = U_MASK(value);
    uint16_t flags = 0;
    if (mask & U_GC_P_MASK) flags |= HAT_PROP_PUNCTUATION;
    if (mask & U_GC_LL_MASK) flags |= HAT_PROP_LOWERCASE;
    if (mask & U_GC_LU_MASK) flags |= HAT_PROP_UPPERCASE;
    if (flags == 0) return;
    for (UChar32 c = start; c <= end; c++) out[c] |= flags;
}

static void apply_line_break(UChar32 start, UChar32 end, uint32_t value, uint16_t *out) {
    if (value != U_LB_COMPLEX_CONTEXT) return;
    for (UChar32 c = start; c <= end; c++) out[c] |= HAT_PROP_DICTIONARY;
}

static void apply_script(UChar32 start, UChar32 end, uint32_t value, uint16_t *out) {
    if (value != USCRIPT_HAN && value != USCRIPT_HIRAGANA && value != USCRIPT_KATAKANA) return;
    for (UChar32 c = start; c <= end; c++) out[c] |= HAT_PROP_DICTIONARY;
}

static int apply_binary(UProperty property, uint16_t flag) {
    UErrorCode status = U_ZERO_ERROR;
    const USet *set = u_getBinaryPropertySet(property, &status);
    if (U_FAILURE(status) || set == NULL) return 0;
    int32_t count = uset_getItemCount(set);
    for (int32_t i = 0; i < count; i++) {
        UChar32 start = 0, end = -1;
        status = U_ZERO_ERROR;
        int32_t length = uset_getItem(set, i, &start, &end, NULL, 0, &status);
        if (length != 0) continue; // a string item (binary property sets have none)
        for (UChar32 c = start; c <= end && c < HAT_PROP_COUNT; c++) table[c] |= flag;
    }
    return 1;
}

// Splits the flat table into blocks of HAT_PROP_BLOCK_SIZE and stores each distinct block once.
// Block 0 (ASCII) comes first, so entry(c) = blocks[c] for c < 128 (HATText relies on it).
static void compress_table(void) {
    enum { BLOCKS = HAT_PROP_COUNT >> HAT_PROP_BLOCK_SHIFT, SIZE = HAT_PROP_BLOCK_SIZE };
    uint16_t *index = malloc(BLOCKS * sizeof(uint16_t));
    uint16_t *blocks = malloc((size_t)BLOCKS * SIZE * sizeof(uint16_t));
    // Open-addressing hash of block contents → distinct block number.
    enum { SLOTS = 8192 };
    int32_t *slots = malloc(SLOTS * sizeof(int32_t));
    if (index == NULL || blocks == NULL || slots == NULL) { free(index); free(blocks); free(slots); return; }
    for (int i = 0; i < SLOTS; i++) slots[i] = -1;
    int32_t distinct = 0;
    for (int32_t b = 0; b < BLOCKS; b++) {
        const uint16_t *block = table + (size_t)b * SIZE;
        uint64_t h = 1469598103934665603ull; // FNV-1a
        for (int k = 0; k < SIZE; k++) { h ^= block[k]; h *= 1099511628211ull; }
        uint32_t slot = (uint32_t)(h % SLOTS);
        for (;;) {
            int32_t d = slots[slot];
            if (d < 0) {
                memcpy(blocks + (size_t)distinct * SIZE, block, SIZE * sizeof(uint16_t));
                slots[slot] = distinct;
                index[b] = (uint16_t)distinct++;
                break;
            }
            if (memcmp(blocks + (size_t)d * SIZE, block, SIZE * sizeof(uint16_t)) == 0) { index[b] = (uint16_t)d; break; }
            slot = (slot + 1) % SLOTS;
        }
    }
    free(slots);
    uint16_t *shrunk = realloc(blocks, (size_t)distinct * SIZE * sizeof(uint16_t));
    stage_index = index;
    stage_blocks = shrunk ? shrunk : blocks;
}

static void build_table(void) {
    uint16_t *t = calloc(HAT_PROP_COUNT, sizeof(uint16_t));
    if (t == NULL) return;
    table = t;
    int ok = for_each_range(UCHAR_WORD_BREAK, apply_word_break)
          && for_each_range(UCHAR_GENERAL_CATEGORY, apply_general_category)
          && for_each_range(UCHAR_LINE_BREAK, apply_line_break)
          && for_each_range(UCHAR_SCRIPT, apply_script)
          && apply_binary(UCHAR_EXTENDED_PICTOGRAPHIC, HAT_PROP_EXTENDED_PICTOGRAPHIC)
          && apply_binary(UCHAR_WHITE_SPACE, HAT_PROP_WHITE_SPACE);
    if (ok) {
        // Word_Break=Katakana includes a few Common-script marks (U+30FC prolonged sound mark,
        // U+309B/U+309C voicing marks) that belong to Japanese dictionary runs too.
        for (UChar32 c = 0; c < HAT_PROP_COUNT; c++)
            if ((t[c] & HAT_PROP_WB_MASK) == HAT_WB_KATAKANA) t[c] |= HAT_PROP_DICTIONARY;
        compress_table();
    }
    table = NULL;
    free(t);
}

const uint16_t *hat_wb_property_index(void) {
    pthread_once(&table_once, build_table);
    return stage_index;
}

const uint16_t *hat_wb_property_blocks(void) {
    pthread_once(&table_once, build_table);
    return stage_blocks;
}

int32_t hat_wb_icu_word_break(uint32_t c) {
    return u_getIntPropertyValue((UChar32)c, UCHAR_WORD_BREAK);
}

// ---------------------------------------------------------------------------------------------
// ICU's standard word break iterator

struct hat_wb_iterator {
    UBreakIterator *bi;
};

hat_wb_iterator *hat_wb_iterator_open(char *error) {
    UErrorCode status = U_ZERO_ERROR;
    UBreakIterator *bi = ubrk_open(UBRK_WORD, "", NULL, 0, &status);
    if (U_FAILURE(status) || bi == NULL) {
        if (error) { strncpy(error, u_errorName(status), 63); error[63] = 0; }
        return NULL;
    }
    hat_wb_iterator *it = malloc(sizeof *it);
    if (it == NULL) { ubrk_close(bi); if (error) strcpy(error, "out of memory"); return NULL; }
    it->bi = bi;
    return it;
}

void hat_wb_iterator_close(hat_wb_iterator *iterator) {
    if (iterator == NULL) return;
    ubrk_close(iterator->bi);
    free(iterator);
}

int64_t hat_wb_iterator_breaks(hat_wb_iterator *iterator, const uint8_t *text, int64_t length,
                               int64_t *out, int64_t capacity) {
    if (iterator == NULL || length < 0) return -1;
    if (length == 0) return 0;
    UErrorCode status = U_ZERO_ERROR;
    UText ut = UTEXT_INITIALIZER;
    utext_openUTF8(&ut, (const char *)text, length, &status);
    if (U_FAILURE(status)) return -1;
    ubrk_setUText(iterator->bi, &ut, &status);
    if (U_FAILURE(status)) { utext_close(&ut); return -1; }
    int64_t count = 0;
    for (int32_t b = ubrk_next(iterator->bi); b != UBRK_DONE; b = ubrk_next(iterator->bi)) {
        if (b <= 0 || b >= length) continue;
        if (count < capacity) out[count] = b;
        count++;
    }
    // Detach the text so the iterator keeps no pointer into the caller's buffer.
    UText empty = UTEXT_INITIALIZER;
    utext_openUTF8(&empty, "", 0, &status);
    ubrk_setUText(iterator->bi, &empty, &status);
    utext_close(&empty);
    utext_close(&ut);
    return count;
}
