package account

import (
	"context"
	"errors"
	"fmt"

	"github.com/runbookhq/runbook/internal/store"
)

// CreateOrg creates an organization tenant owned by ownerID. Organizations
// and users share one namespace, as their tenants' names.
func (s *Service) CreateOrg(ctx context.Context, ownerID int64, name string) (Membership, error) {
	name = normalize(name)
	if err := validName("organization name", name); err != nil {
		return Membership{}, err
	}
	m, err := s.repo.CreateOrg(ctx, name, ownerID, s.now())
	if err != nil {
		return Membership{}, err
	}
	s.log.InfoContext(ctx, "organization created", "tenant_id", m.Tenant.ID, "owner_id", ownerID)
	return m, nil
}

// AddMember adds userID to an organization. Only its owners may; an actor
// who is not a member gets store.ErrNotFound, as if it did not exist.
func (s *Service) AddMember(ctx context.Context, actorID, tenantID, userID int64, role Role) error {
	if role != RoleOwner && role != RoleMember {
		return fmt.Errorf("%w: role %q; use %q or %q", ErrInvalid, role, RoleOwner, RoleMember)
	}
	m, err := s.repo.Membership(ctx, actorID, tenantID)
	if err != nil {
		return err
	}
	if m.Role != RoleOwner {
		return fmt.Errorf("%w: only the owners of %s can add members", ErrForbidden, m.Tenant.Name)
	}
	if m.Personal {
		return fmt.Errorf("%w: %s is a personal account; create an organization to share runs", ErrInvalid, m.Tenant.Name)
	}
	if err := s.repo.AddMember(ctx, tenantID, userID, role, s.now()); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "member added", "tenant_id", tenantID, "user_id", userID, "role", string(role), "by", actorID)
	return nil
}

// Memberships lists the tenants the user belongs to.
func (s *Service) Memberships(ctx context.Context, userID int64) ([]Membership, error) {
	return s.repo.Memberships(ctx, userID)
}

// CheckMember returns nil when the user belongs to the tenant, else an
// error wrapping store.ErrNotFound (whether the tenant exists or not), so
// that the API answers 404 and reveals nothing.
func (s *Service) CheckMember(ctx context.Context, userID, tenantID int64) error {
	_, err := s.repo.Membership(ctx, userID, tenantID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("tenant %d: %w", tenantID, store.ErrNotFound)
	}
	return err
}
