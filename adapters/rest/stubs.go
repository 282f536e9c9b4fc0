package rest

import "net/http"

func (a *Adapter) handleOpenAPI(w http.ResponseWriter, r *http.Request) {}
