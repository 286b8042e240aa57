"""Strings tokenizers disagree on. Every text export checks its SavedModel's tokenizer
against the app's on all of them (and the tests check the app against each checkpoint's
reference tokenizer).

:data:`EVERYDAY_STRINGS` is ordinary typography a user's own texts are full of, in
several languages: curly quotes and apostrophes, guillemets, en and em dashes, the
ellipsis, no-break and narrow no-break spaces before French punctuation, ß, œ, æøå,
ligatures, fractions, full-width forms, soft hyphens and zero-width spaces pasted from
the web. A SavedModel must give the app's token ids on every one of them.

:data:`EXOTIC_STRINGS` are the rarer cases: Turkish dotted and dotless i, Greek final
sigma, CJK, Korean, emoji, control characters, combining marks, a very long word, empty
and whitespace-only text. A few of them may differ, and the tests list which.
"""

EVERYDAY_STRINGS = (
    # French: no-break space (U+00A0) and narrow no-break space (U+202F) before ; : ! ?
    "« Bonjour\u00a0! » dit-elle\u00a0; puis\u202f: « à demain… »",
    "L’œuvre coûte 12,50\u00a0€ — c’est ½ prix\u202f!",
    "Cœur, sœur et œil\u00a0: l’été à Noël, n’est-ce pas\u202f?",
    # German
    "„Die Straße ist groß“, sagte Jürgen – heute Abend.",
    "Grüße aus Köln: Maß, Fuß und Spaß…",
    "Die Auﬂage ist ﬁnal geprüft.",
    "Donau\u00addampf\u00adschiff\u00adfahrts\u00adgesellschaft",
    # Spanish
    "¿Dónde está el niño? ¡Qué día tan bonito!",
    "El año pasado compré ½ kilo de jamón – «muy rico».",
    # Danish
    "Blåbærgrød og rødgrød med fløde – ”det er lækkert”.",
    "Søren sagde: »Vi ses i Århus« … ØL koster 45,–\u00a0kr.",
    # English
    "It’s a “smart” café — isn’t it? Only $5…",
    "Add ¼ cup of sugar, then bake 20\u00a0min (don’t over-mix).",
    "Wait… what?! 1990–2000 — the ’90s were ‘fine’.",
    "Zero\u200bwidth spaces hide\u200bin pasted web text.",
    # Full-width forms as Japanese text writes Latin letters and digits
    "ＡＢＣ社の１２３号室，ｔｅｓｔ！",
    # Italian, Portuguese, Dutch
    "Perché l’università è lì? Sì, c’è.",
    "São Paulo é ótimo, não é? Ação!",
    "Het café ‘De Gouden Leeuw’ is geopend.",
    # A table cell that ends in a space
    "Thanks, see you tomorrow ",
)

EXOTIC_STRINGS = (
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
    "line\u2028separator\u2029paragraph\u3000ideographic\u1680ogham\x0bvtab\x85nel",
    "replacement\ufffdchar private\ue000use",
    "trailing tab and bell\t\x07 ",
    # 40 kana without a space: 120 UTF-8 bytes, 40 characters
    "ありがとうございます" * 4,
)

HARD_STRINGS = EVERYDAY_STRINGS + EXOTIC_STRINGS
