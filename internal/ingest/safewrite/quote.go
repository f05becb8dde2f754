package safewrite

import "strconv"

var strconvQuote = strconv.Quote
