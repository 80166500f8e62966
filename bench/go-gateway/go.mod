module capiscio.local/bench/gogateway

go 1.19
