package stage

import "strconv"

var strconvQuote = strconv.Quote
