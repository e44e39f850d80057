# Shared style of the halo figures (loaded by each script; `halo plot` skips files starting
# with "_"). halo plot sets: terminal and output, datafile (the query's rows; one data block
# per series), series (the series' names, space-separated), conditions (a line stating the
# conditions, from the query's second statement), paper (1 when that statement's second value
# says the runs are of the paper's own setup, else 0), plotdir. Figures carry no title: the
# script's "# caption:" line and the conditions go into NAME.caption.txt beside the figure.
set termoption noenhanced
set grid back lc rgb '#dddddd'
set border 3
set tics nomirror
set key top left box opaque
set style line 1 lc rgb '#c0392b' lw 2 pt 7 ps 1.2
set style line 2 lc rgb '#8e44ad' lw 2 pt 5 ps 1.2 dt 2
set style line 3 lc rgb '#2980b9' lw 2 pt 9 ps 1.4
set style line 4 lc rgb '#27ae60' lw 2 pt 13 ps 1.4
set style line 5 lc rgb '#d35400' lw 2 pt 11 ps 1.2
set style line 6 lc rgb '#7f8c8d' lw 2 pt 3 ps 1.2
