// Package controlplane holds the mesh's topology and answers operators'
// questions: which sites and links exist and how healthy they are, who is
// interested in what, where one event went, and it drives replay and
// dead-letter redrive. meshctl and the web console are its clients.
package controlplane
