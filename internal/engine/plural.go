package engine

import "strconv"

// count is "1 machine", "2 machines": reasons are read by people.
func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// needRoom is "1 task needs room", "3 tasks need room".
func needRoom(n int) string {
	if n == 1 {
		return "1 task needs room"
	}
	return count(n, "task") + " need room"
}
