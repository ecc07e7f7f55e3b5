"""HTTP code every route shares, whichever app serves it."""
