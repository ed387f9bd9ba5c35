// CICU word-break services for HATText's splitter: a per-code-point property table taken from
// ICU (Unicode 15.0 in ICU 72) and ICU's own word break iterator (dictionary segmentation for
// Chinese, Japanese, Thai, Lao, Khmer and Burmese). Plain C types only; ICU stays in wordbreak.c.
#ifndef CICU_WORDBREAK_H
#define CICU_WORDBREAK_H
#include <stdint.h>

// A property entry (uint16_t) per code point: the UAX #29 Word_Break value in the low 5 bits,
// then flags. The values are mirrored in HATText/UnicodeProperties.swift (a test checks them).
enum {
    HAT_WB_OTHER = 0,
    HAT_WB_CR = 1,
    HAT_WB_LF = 2,
    HAT_WB_NEWLINE = 3,
    HAT_WB_EXTEND = 4,
    HAT_WB_ZWJ = 5,
    HAT_WB_REGIONAL_INDICATOR = 6,
    HAT_WB_FORMAT = 7,
    HAT_WB_KATAKANA = 8,
    HAT_WB_HEBREW_LETTER = 9,
    HAT_WB_ALETTER = 10,
    HAT_WB_SINGLE_QUOTE = 11,
    HAT_WB_DOUBLE_QUOTE = 12,
    HAT_WB_MIDNUMLET = 13,
    HAT_WB_MIDLETTER = 14,
    HAT_WB_MIDNUM = 15,
    HAT_WB_NUMERIC = 16,
    HAT_WB_EXTENDNUMLET = 17,
    HAT_WB_WSEGSPACE = 18,
};
enum {
    HAT_PROP_WB_MASK = 0x1F,
    HAT_PROP_EXTENDED_PICTOGRAPHIC = 0x20, // \p{Extended_Pictographic}
    HAT_PROP_PUNCTUATION = 0x40,           // \p{P} (General_Category Pc Pd Ps Pe Pi Pf Po)
    HAT_PROP_LOWERCASE = 0x80,             // \p{Ll}
    HAT_PROP_UPPERCASE = 0x100,            // \p{Lu}
    HAT_PROP_WHITE_SPACE = 0x200,          // \p{White_Space}
    HAT_PROP_DICTIONARY = 0x400,           // Han, Hiragana, Katakana, or Line_Break=Complex_Context
};

/// Number of code points (0x110000). The table has two stages: entry(c) =
/// blocks[index[c >> HAT_PROP_BLOCK_SHIFT] * HAT_PROP_BLOCK_SIZE + (c & (HAT_PROP_BLOCK_SIZE - 1))],
/// with identical blocks stored once (Han, Hangul and unassigned planes share a few blocks,
/// which keeps the table in cache).
#define HAT_PROP_COUNT 0x110000
#define HAT_PROP_BLOCK_SHIFT 7
#define HAT_PROP_BLOCK_SIZE 128

/// The two stages, built from ICU on first use (thread-safe) and never freed.
/// Return NULL if ICU could not provide a property map.
const uint16_t *hat_wb_property_index(void);  // [HAT_PROP_COUNT >> HAT_PROP_BLOCK_SHIFT]
const uint16_t *hat_wb_property_blocks(void); // [number of distinct blocks * HAT_PROP_BLOCK_SIZE]

/// The raw ICU Word_Break value (UWordBreakValues) of `c`, for tests.
int32_t hat_wb_icu_word_break(uint32_t c);

/// ICU's standard word break iterator (root locale): UAX #29 plus dictionaries.
typedef struct hat_wb_iterator hat_wb_iterator;

/// Opens an iterator; NULL when ICU fails (the error name is written to `error`, 64 bytes).
hat_wb_iterator *hat_wb_iterator_open(char *error);
void hat_wb_iterator_close(hat_wb_iterator *iterator);

/// Boundaries of UTF-8 `text[0..<length]` strictly between 0 and `length`, as byte offsets in
/// increasing order, written to `out` (at most `capacity`). Returns how many there are (call
/// again with more room when that exceeds `capacity`), or -1 when ICU fails.
int64_t hat_wb_iterator_breaks(hat_wb_iterator *iterator, const uint8_t *text, int64_t length,
                               int64_t *out, int64_t capacity);

#endif
