# caption: Perplexity against packet loss
load plotdir.'/_style.gp'
set xlabel 'packet loss per link (%)'
set ylabel 'perplexity (TinyStories held-out stories)'
plot for [i=1:words(series)] datafile index (i-1) using 1:2 with linespoints ls (i == 1 ? 2 : 4) \
     title word(series, i)
