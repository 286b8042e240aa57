"""Strings tokenizers disagree on. Every text export checks its SavedModel's tokenizer
against the app's on all of them (and the tests check the app against each checkpoint's
reference tokenizer): accents, German ß, Turkish dotted and dotless i, Greek final sigma,
CJK, Korean, full-width forms, ligatures, zero-width and soft hyphens, emoji, control
characters, a very long word, empty and whitespace-only text."""

HARD_STRINGS = (
    "Café naïve résumé",
    "Crème brûlée à la façon de Noël",
    "Straße in München, Größe",
    "İstanbul ılık ISPARTA ıi İI",
    "ΣΊΣΥΦΟΣ σοφός ΟΔΥΣΣΕΥΣ",
    "北京欢迎你，東京タワー",
    "한국어 문장입니다",
    "ＦＵＬＬ　ＷＩＤＴＨ　１２３",
    "ﬁne ﬂour ﬀ",
    "zero\u200bwidth soft\u00adhyphen joi\u200dner",
    "emoji 😀👍🏽 and 🇫🇷",
    "control\x07char\ttab\r\nnewline\x00nul",
    "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "",
    "   \t\n ",
    "Don't STOP — it's “quoted” … ok?",
    "e\u0301 (e + combining acute) vs é",
    "Ångström ÅNGSTRÖM øre ÆØÅ",
    "naïve café" * 40,
)
